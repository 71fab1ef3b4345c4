/**
 * Row softmax and log-softmax over the last axis with an optional broadcast additive mask, and
 * their backward maps. One workgroup owns one row: its invocations stride the row keeping an
 * online (max, Σexp) pair, which a shared-memory tree then merges, so the forward reads the row
 * twice (statistics, then output) and never stores exp(x).
 *
 * @module
 */
import { broadcastStrides, MAX_RANK, packDims } from "./elementwise.wgsl.ts";
import { dispatch, grid, type Kernel } from "./runtime.ts";
import { info } from "../core/device.ts";

/**
 * Invocations per row workgroup, shared by the norm and loss row kernels. On CPU adapters
 * (lavapipe) every barrier level of the tree costs a pass over the workgroup, and 16 measured
 * 1.7× faster than 128 on 4096 × 1024 softmax; GPUs want at least a full warp per row.
 */
export function rowWorkgroupSize(): number {
  const adapter = info();
  const cpu = adapter.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader/i.test(adapter.description);
  return cpu ? 16 : 128;
}

const kernelCache = new Map<string, Kernel>();

/** The kernel `name` sized for this adapter's row workgroup, built by `make(wg)` on first use. */
export function rowKernel(name: string, make: (wg: number) => string): Kernel {
  const wg = rowWorkgroupSize();
  const key = `${name}_wg${wg}`;
  let k = kernelCache.get(key);
  if (!k) kernelCache.set(key, k = { name: key, code: make(wg) });
  return k;
}

/**
 * Scores (x + mask) at or below this value count as masked out: they get probability exactly 0,
 * and a row with every score masked gets softmax 0 everywhere instead of NaN.
 */
export const MASKED_BELOW = -1e8;

/**
 * WGSL that merges running (max, Σexp(x − max)) pairs: `merge_lse(m, s, m2, s2)` returns the
 * pair of the union. The empty pair is (EMPTY_MAX, 0).
 */
export const MERGE_LSE = `
const EMPTY_MAX = -3.4028235e38;
fn merge_lse(m: f32, s: f32, m2: f32, s2: f32) -> vec2f {
  let top = max(m, m2);
  return vec2f(top, s * exp(m - top) + s2 * exp(m2 - top));
}`;

/**
 * WGSL `push_lse(acc, v)`: the running pair with one more score, one exp per score (the smaller of
 * the old max and v is rescaled against the larger). Masked scores leave the pair unchanged.
 */
const PUSH_LSE = `
fn push_lse(acc: vec2f, v: f32) -> vec2f {
  let e = exp(-abs(v - acc.x));
  let pushed = select(vec2f(acc.x, acc.y + e), vec2f(v, acc.y * e + 1.0), v > acc.x);
  return select(pushed, acc, v <= ${MASKED_BELOW});
}`;

/**
 * The forward kernel. With `vec4` (cols a multiple of 4 and a mask that is not broadcast along
 * the row) every invocation reads whole vec4s: on lavapipe a load costs about the same whatever its
 * width, so a row takes a quarter of the loads.
 */
function forwardCode(log: boolean, wg: number, vec4: boolean): string {
  const [t, zero, width] = vec4 ? ["vec4f", "vec4f(0.0)", "p.cols / 4u"] : ["f32", "0.0", "p.cols"];
  const masked = `v <= ${vec4 ? `vec4f(${MASKED_BELOW})` : MASKED_BELOW}`;
  const write = log
    ? "ys[base + j] = v - lse;"
    : `ys[base + j] = select(exp(v - top) * inv, ${zero}, ${masked});`;
  const push = vec4
    ? "acc = push_lse(push_lse(push_lse(push_lse(acc, v.x), v.y), v.z), v.w);"
    : "acc = push_lse(acc, v);";
  return `
struct Params {
  rows: u32, cols: u32, lead: u32, has_mask: u32, mask_col: u32, p0: u32, p1: u32, p2: u32,
  shape: array<vec4u, 2>, mstride: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<${t}>;
@group(0) @binding(2) var<storage, read> ms: array<${t}>;
@group(0) @binding(3) var<storage, read_write> ys: array<${t}>;
var<workgroup> part_max: array<f32, ${wg}>;
var<workgroup> part_sum: array<f32, ${wg}>;
${MERGE_LSE}
${PUSH_LSE}

fn mask_offset(row: u32) -> u32 {
  var rem = row;
  var off = 0u;
  for (var d = i32(p.lead) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    off += (rem % dim) * p.mstride[d / 4][d % 4];
    rem = rem / dim;
  }
  return off;
}

fn score(base: u32, moff: u32, j: u32) -> ${t} {
  var v = xs[base + j];
  if (p.has_mask != 0u) { v += ms[moff + j${vec4 ? "" : " * p.mask_col"}]; }
  return v;
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * ${width};
  var moff = 0u;
  if (p.has_mask != 0u) { moff = mask_offset(row)${vec4 ? " / 4u" : ""}; }
  var acc = vec2f(EMPTY_MAX, 0.0);
  for (var j = lid; j < ${width}; j += ${wg}u) {
    let v = score(base, moff, j);
    ${push}
  }
  part_max[lid] = acc.x;
  part_sum[lid] = acc.y;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) {
      acc = merge_lse(acc.x, acc.y, part_max[lid + w], part_sum[lid + w]);
      part_max[lid] = acc.x;
      part_sum[lid] = acc.y;
    }
    workgroupBarrier();
  }
  let top = part_max[0];
  let total = part_sum[0];
  let inv = select(0.0, 1.0 / total, total > 0.0);
  let lse = select(0.0, top + log(total), total > 0.0);
  for (var j = lid; j < ${width}; j += ${wg}u) {
    let v = score(base, moff, j);
    ${write}
  }
}`;
}

// softmax: dx = y·(g − Σ g·y); log-softmax: dx = g − exp(y)·Σ g.
function backwardCode(log: boolean, wg: number, vec4: boolean): string {
  const [t, width] = vec4 ? ["vec4f", "p.cols / 4u"] : ["f32", "p.cols"];
  const term = log ? "gs[base + j]" : "gs[base + j] * ys[base + j]";
  return `
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ys: array<${t}>;
@group(0) @binding(2) var<storage, read> gs: array<${t}>;
@group(0) @binding(3) var<storage, read_write> dxs: array<${t}>;
var<workgroup> part: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * ${width};
  var acc = 0.0;
  for (var j = lid; j < ${width}; j += ${wg}u) {
    acc += ${vec4 ? `dot(${term}, vec4f(1.0))` : term};
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] += part[lid + w]; }
    workgroupBarrier();
  }
  let total = part[0];
  for (var j = lid; j < ${width}; j += ${wg}u) {
    let y = ys[base + j];
    let g = gs[base + j];
    dxs[base + j] = ${log ? "g - exp(y) * total" : "y * (g - total)"};
  }
}`;
}

/** A broadcast additive mask: its buffer and shape (which must broadcast to the scores). */
export interface MaskBuffer {
  buffer: GPUBuffer;
  shape: readonly number[];
}

/**
 * y = softmax(x + mask) (or its log when `log`) over the last dim of `shape`. Masked scores (see
 * {@linkcode MASKED_BELOW}) get 0; log-softmax writes x + mask − lse there, with lse = 0 on
 * fully masked rows.
 */
export function softmaxForward(
  x: GPUBuffer,
  shape: readonly number[],
  mask: MaskBuffer | null,
  y: GPUBuffer,
  log: boolean,
): void {
  const cols = shape.at(-1) ?? 1;
  const lead = shape.slice(0, -1);
  const rows = lead.reduce((a, d) => a * d, 1);
  if (rows * cols === 0) return;
  if (lead.length > MAX_RANK) throw new Error(`softmax supports rank ≤ ${MAX_RANK + 1}`);
  const strides = mask ? broadcastStrides(mask.shape, shape) : [];
  const params = [
    rows,
    cols,
    lead.length,
    mask ? 1 : 0,
    strides.at(-1) ?? 0,
    0,
    0,
    0,
    ...packDims(lead),
    ...packDims(strides.slice(0, -1)),
  ];
  const vec4 = cols % 4 === 0 && (!mask || strides.at(-1) === 1);
  const kernel = rowKernel(
    `${log ? "log_softmax" : "softmax"}_rows_fwd${vec4 ? "_v4" : ""}`,
    (wg) => forwardCode(log, wg, vec4),
  );
  dispatch(kernel, [x, mask?.buffer ?? x, y], params, grid(rows));
}

/** dx from the forward output `y` and its gradient `g`, rows × cols. */
export function softmaxBackward(
  y: GPUBuffer,
  g: GPUBuffer,
  dx: GPUBuffer,
  rows: number,
  cols: number,
  log: boolean,
): void {
  if (rows * cols === 0) return;
  const vec4 = cols % 4 === 0;
  const kernel = rowKernel(
    `${log ? "log_softmax" : "softmax"}_rows_bwd${vec4 ? "_v4" : ""}`,
    (wg) => backwardCode(log, wg, vec4),
  );
  dispatch(kernel, [y, g, dx], [rows, cols], grid(rows));
}
