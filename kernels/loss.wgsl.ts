/**
 * Cross-entropy fused with log-softmax. The forward is one workgroup per row: an online
 * (max, Σexp) pair and Σx in one pass give the row's loss and its log-sum-exp (kept for the
 * backward); a one-workgroup kernel then sums the losses and counts the rows that are not ignored.
 * The backward writes (softmax − smoothed one-hot)·scale in one elementwise pass over a row grid
 * (row and column from the workgroup, no per-element division).
 *
 * @module
 */
import { MERGE_LSE, rowKernel } from "./softmax.wgsl.ts";
import { dispatch, f32Bits, grid, type Kernel } from "./runtime.ts";
import { ROW_BUILTINS, ROW_WG, rowGrid, rowIndexCode, rowsPerGroup } from "./row_grid.ts";

const WG = 256;

/** How the per-row losses are reduced; it decides how the backward scales each row. */
export type LossReduction = "none" | "sum" | "mean";

const REDUCTION_CODE: Record<LossReduction, number> = { none: 0, sum: 1, mean: 2 };

/** WGSL `counts(t)`: whether target `t` takes part (not ignored and a valid class id). */
const TARGET_COUNTS = `
fn counts(t: i32) -> bool {
  return t != p.ignore_index && t >= 0 && t < i32(p.cols);
}`;

const forwardCode = (wg: number): string => `
struct Params { rows: u32, cols: u32, ignore_index: i32, smoothing: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> lses: array<f32>;
var<workgroup> part_max: array<f32, ${wg}>;
var<workgroup> part_sum: array<f32, ${wg}>;
var<workgroup> part_x: array<f32, ${wg}>;
${MERGE_LSE}
${TARGET_COUNTS}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var acc = vec2f(EMPTY_MAX, 0.0);
  var sum_x = 0.0;
  for (var j = lid; j < p.cols; j += ${wg}u) {
    let v = xs[base + j];
    acc = merge_lse(acc.x, acc.y, v, 1.0);
    sum_x += v;
  }
  part_max[lid] = acc.x;
  part_sum[lid] = acc.y;
  part_x[lid] = sum_x;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) {
      acc = merge_lse(acc.x, acc.y, part_max[lid + w], part_sum[lid + w]);
      part_max[lid] = acc.x;
      part_sum[lid] = acc.y;
      part_x[lid] += part_x[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let lse = part_max[0] + log(part_sum[0]);
    let t = targets[row];
    var loss = 0.0;
    if (counts(t)) {
      // −Σ q·log p with q = (1 − ε)·onehot(t) + ε/C and log p = x − lse.
      let eps = p.smoothing;
      loss = lse - (1.0 - eps) * xs[base + u32(t)] - eps / f32(p.cols) * part_x[0];
    }
    losses[row] = loss;
    lses[row] = lse;
  }
}`;

const reduceKernel: Kernel = {
  name: "cross_entropy_reduce",
  code: `
struct Params { rows: u32, cols: u32, ignore_index: i32, mean: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> losses: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> count: array<f32>;
var<workgroup> part: array<vec2f, ${WG}>;
${TARGET_COUNTS}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0);
  for (var r = lid; r < p.rows; r += ${WG}u) {
    acc += vec2f(losses[r], select(0.0, 1.0, counts(targets[r])));
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] += part[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let total = part[0];
    count[0] = total.y;
    out[0] = select(total.x, total.x / max(total.y, 1.0), p.mean != 0u);
  }
}`,
};

const backwardKernels = new Map<string, Kernel>();
/**
 * The backward over a row grid with `perGroup` rows per workgroup (see row_grid.ts), four columns
 * per invocation with `vec4` (C a multiple of 4): on lavapipe each invocation's load or store
 * costs about the same whatever its width, so vec4 access does four columns for the price of one.
 */
function backwardKernel(vec4: boolean, perGroup: number): Kernel {
  const name = `cross_entropy_bwd${vec4 ? "_vec4" : ""}${perGroup > 1 ? `_r${perGroup}` : ""}`;
  let k = backwardKernels.get(name);
  if (k) return k;
  const [type, zero, cols] = vec4
    ? ["vec4f", "vec4f(0.0)", "vec4u(col * 4u) + vec4u(0u, 1u, 2u, 3u)"]
    : ["f32", "0.0", "col"];
  k = {
    name,
    code: `
struct Params {
  rows: u32, cols: u32, ignore_index: i32, smoothing: f32, reduction: u32, lanes: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<${type}>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> lses: array<f32>;
@group(0) @binding(4) var<storage, read> gs: array<f32>;
@group(0) @binding(5) var<storage, read> count: array<f32>;
@group(0) @binding(6) var<storage, read_write> dxs: array<${type}>;
${TARGET_COUNTS}

@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup, "p.rows", "p.lanes")}
  let i = row * p.lanes + col;
  let t = targets[row];
  if (!counts(t)) {
    dxs[i] = ${zero};
    return;
  }
  var scale: f32;
  switch (p.reduction) {
    case 0u: { scale = gs[row]; }
    case 1u: { scale = gs[0]; }
    default: { scale = gs[0] / max(count[0], 1.0); }
  }
  let eps = p.smoothing;
  let q = eps / f32(p.cols) + select(${zero}, ${type}(1.0 - eps), ${cols} == ${
      vec4 ? "vec4u(u32(t))" : "u32(t)"
    });
  dxs[i] = (exp(xs[i] - lses[row]) - q) * scale;
}`,
  };
  backwardKernels.set(name, k);
  return k;
}

/** Buffers of a cross-entropy forward: inputs, per-row results, and (for sum/mean) the scalar. */
export interface CrossEntropyBuffers {
  /** Logits [rows, cols], f32. */
  logits: GPUBuffer;
  /** Class ids [rows], i32. */
  targets: GPUBuffer;
  /** Per-row loss [rows] (0 on ignored rows). */
  losses: GPUBuffer;
  /** Per-row log-sum-exp [rows], for the backward. */
  lse: GPUBuffer;
}

/** Shape and options of a cross-entropy. */
export interface CrossEntropyConfig {
  rows: number;
  cols: number;
  ignoreIndex: number;
  labelSmoothing: number;
}

function header(c: CrossEntropyConfig): number[] {
  return [c.rows, c.cols, c.ignoreIndex >>> 0, f32Bits(c.labelSmoothing)];
}

/** Per-row smoothed cross-entropy and log-sum-exp of logits against targets. */
export function crossEntropyForward(b: CrossEntropyBuffers, c: CrossEntropyConfig): void {
  if (c.rows * c.cols === 0) return;
  dispatch(
    rowKernel("cross_entropy_rows_fwd", forwardCode),
    [b.logits, b.targets, b.losses, b.lse],
    header(c),
    grid(c.rows),
  );
}

/**
 * Sums the per-row losses into `out` [1] (divided by the number of counted rows when `mean`, 0 when
 * none counts) and writes that number to `count` [1] (as f32).
 */
export function crossEntropyReduce(
  losses: GPUBuffer,
  targets: GPUBuffer,
  out: GPUBuffer,
  count: GPUBuffer,
  c: CrossEntropyConfig,
  mean: boolean,
): void {
  dispatch(
    reduceKernel,
    [losses, targets, out, count],
    [c.rows, c.cols, c.ignoreIndex >>> 0, mean ? 1 : 0],
    [1],
  );
}

/**
 * dlogits = (softmax − q)·scale per counted row (0 on the others), where q is the smoothed
 * one-hot and scale is g[row] ("none"), g[0] ("sum") or g[0]/count ("mean").
 */
export function crossEntropyBackward(
  b: CrossEntropyBuffers,
  g: GPUBuffer,
  count: GPUBuffer,
  dlogits: GPUBuffer,
  c: CrossEntropyConfig,
  reduction: LossReduction,
): void {
  const n = c.rows * c.cols;
  if (n === 0) return;
  const vec4 = c.cols % 4 === 0;
  const lanes = vec4 ? c.cols / 4 : c.cols;
  const perGroup = rowsPerGroup(lanes);
  dispatch(
    backwardKernel(vec4, perGroup),
    [b.logits, b.targets, b.lse, g, count, dlogits],
    [...header(c), REDUCTION_CODE[reduction], lanes],
    rowGrid(lanes, c.rows, perGroup),
  );
}
