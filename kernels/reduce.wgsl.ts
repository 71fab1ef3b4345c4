/**
 * Reductions over the middle axis of an [outer, R, inner] view: sum or max. Rows that are
 * contiguous (inner = 1) use one workgroup per row with a shared-memory tree; otherwise each
 * invocation owns one (outer, inner) output and walks R.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";

const ROW_WG = 128;
const COL_WG = 256;

/** Supported reductions. */
export type ReduceOp = "sum" | "max";

const IDENTITY: Record<ReduceOp, string> = { sum: "0.0", max: "-3.4028235e38" };
const COMBINE: Record<ReduceOp, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  max: (a, b) => `max(${a}, ${b})`,
};

function rowKernel(op: ReduceOp): Kernel {
  return {
    name: `reduce_${op}_rows`,
    code: `
struct Params { outer: u32, r: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> ys: array<f32>;
var<workgroup> part: array<f32, ${ROW_WG}>;
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.outer) { return; }
  let base = row * p.r;
  var acc = ${IDENTITY[op]};
  for (var j = lid; j < p.r; j += ${ROW_WG}u) { acc = ${COMBINE[op]("acc", "xs[base + j]")}; }
  part[lid] = acc;
  workgroupBarrier();
  for (var w = ${ROW_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] = ${COMBINE[op]("part[lid]", "part[lid + w]")}; }
    workgroupBarrier();
  }
  if (lid == 0u) { ys[row] = part[0]; }
}`,
  };
}

function columnKernel(op: ReduceOp): Kernel {
  return {
    name: `reduce_${op}_columns`,
    code: `
struct Params { outer: u32, r: u32, inner: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> ys: array<f32>;
@compute @workgroup_size(${COL_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${COL_WG}u;
  if (i >= p.outer * p.inner) { return; }
  let o = i / p.inner;
  let k = i % p.inner;
  var acc = ${IDENTITY[op]};
  for (var j = 0u; j < p.r; j++) { acc = ${COMBINE[op]("acc", "xs[(o * p.r + j) * p.inner + k]")}; }
  ys[i] = acc;
}`,
  };
}

const kernels = {
  rows: { sum: rowKernel("sum"), max: rowKernel("max") },
  columns: { sum: columnKernel("sum"), max: columnKernel("max") },
};

/** Reduces x viewed as [outer, r, inner] over r into y of [outer, inner]. */
export function reduce(
  op: ReduceOp,
  x: GPUBuffer,
  y: GPUBuffer,
  outer: number,
  r: number,
  inner: number,
): void {
  if (outer * inner === 0) return;
  if (inner === 1) {
    dispatch(kernels.rows[op], [x, y], [outer, r], grid(outer));
  } else {
    dispatch(
      kernels.columns[op],
      [x, y],
      [outer, r, inner],
      grid(Math.ceil(outer * inner / COL_WG)),
    );
  }
}
