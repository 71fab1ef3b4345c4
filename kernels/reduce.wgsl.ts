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

// Invocation i owns output column k of block o and walks its rows [c·len, min(r, (c+1)·len)) of
// chunk c; with one chunk that is the whole reduction. Four columns travel together as a vec4
// when the inner size allows.
function columnKernel(op: ReduceOp, vec: boolean): Kernel {
  const t = vec ? "vec4f" : "f32";
  return {
    name: `reduce_${op}_columns_${t}`,
    code: `
struct Params { outer: u32, r: u32, inner: u32, len: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ys: array<${t}>;
@compute @workgroup_size(${COL_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${COL_WG}u;
  if (i >= p.outer * p.chunks * p.inner) { return; }
  let k = i % p.inner;
  let oc = i / p.inner;
  let c = oc % p.chunks;
  let o = oc / p.chunks;
  var acc = ${t}(${IDENTITY[op]});
  let end = min(p.r, (c + 1u) * p.len);
  for (var j = c * p.len; j < end; j++) {
    acc = ${COMBINE[op]("acc", "xs[(o * p.r + j) * p.inner + k]")};
  }
  ys[i] = acc;
}`,
  };
}

/** Below this many outputs a column reduction splits its rows into chunks and reduces twice. */
const PARALLEL_OUTPUTS = 4096;
const MIN_CHUNK_ROWS = 16;

const kernels = {
  rows: { sum: rowKernel("sum"), max: rowKernel("max") },
  columns: {
    sum: [columnKernel("sum", false), columnKernel("sum", true)],
    max: [columnKernel("max", false), columnKernel("max", true)],
  },
};

function columns(
  op: ReduceOp,
  x: GPUBuffer,
  y: GPUBuffer,
  [outer, r, inner]: [number, number, number],
  chunks: number,
): void {
  const vec = inner % 4 === 0;
  const width = vec ? inner / 4 : inner;
  const len = Math.ceil(r / chunks);
  dispatch(
    kernels.columns[op][vec ? 1 : 0],
    [x, y],
    [outer, r, width, len, chunks],
    grid(Math.ceil(outer * chunks * width / COL_WG)),
  );
}

/**
 * Reduces x viewed as [outer, r, inner] over r into y of [outer, inner]. `scratch(bytes)` lends a
 * temporary buffer for the partial sums of a split column reduction (returned after the call).
 */
export function reduce(
  op: ReduceOp,
  x: GPUBuffer,
  y: GPUBuffer,
  outer: number,
  r: number,
  inner: number,
  scratch?: (bytes: number) => GPUBuffer,
): void {
  if (outer * inner === 0) return;
  if (inner === 1) {
    dispatch(kernels.rows[op], [x, y], [outer, r], grid(outer));
    return;
  }
  // A bias gradient sums [B·T, D] over its rows into only D outputs: one pass would leave all
  // but a few invocations idle while each walks every row.
  const chunks = Math.min(
    Math.floor(r / MIN_CHUNK_ROWS),
    Math.ceil(PARALLEL_OUTPUTS / (outer * inner)),
  );
  if (chunks < 2 || !scratch) {
    columns(op, x, y, [outer, r, inner], 1);
    return;
  }
  const partial = scratch(outer * chunks * inner * 4);
  columns(op, x, partial, [outer, r, inner], chunks);
  columns(op, partial, y, [outer, chunks, inner], 1);
}
