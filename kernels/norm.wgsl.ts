/**
 * Layer norm and RMS norm over the last axis. The forward is one workgroup per row (tree-reduced
 * mean, then variance or mean square) that writes y and the per-row (mean, rstd) the backward
 * needs; the backward computes dx per row the same way, and the parameter gradients as column
 * sums over chunks of rows, to be summed over the chunks by the caller.
 *
 * @module
 */
import { rowKernel } from "./softmax.wgsl.ts";
import { dispatch, f32Bits, grid, type Kernel } from "./runtime.ts";

const COL_WG = 256;
const ROWS_PER_CHUNK = 64;

/** Layer norm subtracts the row mean; RMS norm does not. */
export type NormKind = "layer" | "rms";

const rowHeader = (wg: number): string => `
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let n = f32(p.cols);`;

/** WGSL `row_sum(v, lid)`: the sum of `v` over the workgroup (all invocations must call it). */
const rowSum = (wg: number): string => `
var<workgroup> part: array<vec2f, ${wg}>;
fn row_sum(v: vec2f, lid: u32) -> vec2f {
  part[lid] = v;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] += part[lid + w]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}`;

function forwardCode(kind: NormKind, wg: number): string {
  const centered = kind === "layer";
  return `
struct Params { rows: u32, cols: u32, has_weight: u32, has_bias: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> bs: array<f32>;
@group(0) @binding(4) var<storage, read_write> ys: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
${rowSum(wg)}
${rowHeader(wg)}
  var mean = 0.0;
  ${
    centered
      ? `var acc = 0.0;
  for (var j = lid; j < p.cols; j += ${wg}u) { acc += xs[base + j]; }
  mean = row_sum(vec2f(acc, 0.0), lid).x / n;`
      : ""
  }
  var sq = 0.0;
  for (var j = lid; j < p.cols; j += ${wg}u) {
    let d = xs[base + j] - mean;
    sq += d * d;
  }
  let rstd = inverseSqrt(row_sum(vec2f(sq, 0.0), lid).x / n + p.eps);
  if (lid == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
  for (var j = lid; j < p.cols; j += ${wg}u) {
    var y = (xs[base + j] - mean) * rstd;
    if (p.has_weight != 0u) { y *= ws[j]; }
    if (p.has_bias != 0u) { y += bs[j]; }
    ys[base + j] = y;
  }
}`;
}

// With x̂ = (x − mean)·rstd and ĝ = g·w: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)); RMS norm has
// mean = 0 and no mean(ĝ) term.
function backwardCode(kind: NormKind, wg: number): string {
  const centered = kind === "layer";
  return `
struct Params { rows: u32, cols: u32, has_weight: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> gs: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dxs: array<f32>;
${rowSum(wg)}
fn scaled_grad(j: u32, g: f32) -> f32 {
  if (p.has_weight != 0u) { return g * ws[j]; }
  return g;
}
${rowHeader(wg)}
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var acc = vec2f(0.0);
  for (var j = lid; j < p.cols; j += ${wg}u) {
    let gh = scaled_grad(j, gs[base + j]);
    acc += vec2f(gh, gh * (xs[base + j] - mean) * rstd);
  }
  let means = row_sum(acc, lid) / n;
  for (var j = lid; j < p.cols; j += ${wg}u) {
    let gh = scaled_grad(j, gs[base + j]);
    let xh = (xs[base + j] - mean) * rstd;
    dxs[base + j] = rstd * (gh ${centered ? "- means.x " : ""}- xh * means.y);
  }
}`;
}

const paramGradKernel: Kernel = {
  name: "norm_param_grads_chunks",
  code: `
struct Params { rows: u32, cols: u32, chunk: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> gs: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dws: array<f32>;
@group(0) @binding(5) var<storage, read_write> dbs: array<f32>;
@compute @workgroup_size(${COL_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * ${COL_WG}u + lid;
  if (col >= p.cols) { return; }
  let start = wid.y * p.chunk;
  let end = min(start + p.chunk, p.rows);
  var dw = 0.0;
  var db = 0.0;
  for (var r = start; r < end; r++) {
    let g = gs[r * p.cols + col];
    dw += g * (xs[r * p.cols + col] - stats[2u * r]) * stats[2u * r + 1u];
    db += g;
  }
  dws[wid.y * p.cols + col] = dw;
  dbs[wid.y * p.cols + col] = db;
}`,
};

/**
 * y = (x − mean)·rstd·weight + bias per row of `cols` (mean = 0 for RMS norm), and
 * stats [rows, 2] = (mean, rstd). `weight`/`bias` may be null.
 */
export function normForward(
  kind: NormKind,
  x: GPUBuffer,
  weight: GPUBuffer | null,
  bias: GPUBuffer | null,
  y: GPUBuffer,
  stats: GPUBuffer,
  rows: number,
  cols: number,
  eps: number,
): void {
  if (rows * cols === 0) return;
  dispatch(
    rowKernel(`${kind}_norm_fwd`, (wg) => forwardCode(kind, wg)),
    [x, weight ?? x, bias ?? x, y, stats],
    [rows, cols, weight ? 1 : 0, bias ? 1 : 0, f32Bits(eps)],
    grid(rows),
  );
}

/** dx of the normalisation from x, weight (may be null), the output gradient g and the stats. */
export function normBackward(
  kind: NormKind,
  x: GPUBuffer,
  weight: GPUBuffer | null,
  g: GPUBuffer,
  stats: GPUBuffer,
  dx: GPUBuffer,
  rows: number,
  cols: number,
): void {
  if (rows * cols === 0) return;
  dispatch(
    rowKernel(`${kind}_norm_bwd`, (wg) => backwardCode(kind, wg)),
    [x, weight ?? x, g, stats, dx],
    [rows, cols, weight ? 1 : 0],
    grid(rows),
  );
}

/** Number of row chunks {@linkcode normParamGradChunks} writes: its outputs are [chunks, cols]. */
export function paramGradChunkCount(rows: number): number {
  return Math.ceil(rows / chunkRows(rows));
}

function chunkRows(rows: number): number {
  return Math.max(ROWS_PER_CHUNK, Math.ceil(rows / 65535));
}

/**
 * Per chunk of rows, the column sums Σ g·x̂ (into dw) and Σ g (into db), each
 * [{@linkcode paramGradChunkCount}(rows), cols]; the caller sums them over the chunks.
 */
export function normParamGradChunks(
  x: GPUBuffer,
  g: GPUBuffer,
  stats: GPUBuffer,
  dw: GPUBuffer,
  db: GPUBuffer,
  rows: number,
  cols: number,
): void {
  if (rows * cols === 0) return;
  dispatch(
    paramGradKernel,
    [x, g, stats, dw, db],
    [rows, cols, chunkRows(rows)],
    [Math.ceil(cols / COL_WG), paramGradChunkCount(rows)],
  );
}
