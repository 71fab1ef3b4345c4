/**
 * Row gather and its deterministic scatter-add. The gather copies rows `index[m]` of an [N, D]
 * table; an index outside [0, N) yields a zero row and never reads out of bounds.
 *
 * WGSL has no float atomics, so the scatter-add builds a CSR grouping of positions by row with
 * integer atomics (count, exclusive scan, place), sorts each row's positions so that sums run in
 * position order whatever order the atomics ran in (bitwise-reproducible gradients), and then one
 * invocation per (row, 4 columns) sums its row's gradient rows, on a row grid (no per-element
 * division). Work is O(N·D + M·D); no invocation loops
 * over all M ids.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";
import { ROW_BUILTINS, ROW_WG, rowGrid, rowIndexCode, rowsPerGroup } from "./row_grid.ts";

const WG = 256;
const SCAN_WG = 256;
const INDEX = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;
const ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u)`;

const gatherKernel: Kernel = {
  name: "gather_rows_u32",
  code: `
struct Params { m: u32, d: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
${ENTRY} {
  ${INDEX}
  if (i >= p.m * p.d) { return; }
  let row = index[i / p.d];
  if (row < 0 || u32(row) >= p.rows) { out[i] = 0u; return; }
  out[i] = table[u32(row) * p.d + i % p.d];
}`,
};

/** out[m, :] = table[index[m], :] for 4-byte elements; out-of-range indices give zero rows. */
export function gatherRows(
  table: GPUBuffer,
  rows: number,
  d: number,
  index: GPUBuffer,
  m: number,
  out: GPUBuffer,
): void {
  if (m * d === 0) return;
  dispatch(gatherKernel, [table, index, out], [m, d, rows], grid(Math.ceil((m * d) / WG)));
}

const countKernel: Kernel = {
  name: "scatter_count_rows",
  code: `
struct Params { m: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
${ENTRY} {
  ${INDEX}
  if (i >= p.m) { return; }
  let row = index[i];
  if (row >= 0 && u32(row) < p.rows) { atomicAdd(&counts[u32(row)], 1u); }
}`,
};

// One workgroup: each invocation scans a contiguous chunk serially, the chunk totals are scanned
// in shared memory, then each chunk is rewritten as an exclusive prefix. offsets has rows + 1 words.
const scanKernel: Kernel = {
  name: "scatter_scan_offsets",
  code: `
struct Params { rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>;
var<workgroup> totals: array<u32, ${SCAN_WG}>;
@compute @workgroup_size(${SCAN_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let chunk = (p.rows + ${SCAN_WG - 1}u) / ${SCAN_WG}u;
  let begin = min(lid * chunk, p.rows);
  let end = min(begin + chunk, p.rows);
  var sum = 0u;
  for (var r = begin; r < end; r++) { sum += counts[r]; }
  totals[lid] = sum;
  workgroupBarrier();
  for (var step = 1u; step < ${SCAN_WG}u; step *= 2u) {
    let add = select(0u, totals[select(0u, lid - step, lid >= step)], lid >= step);
    workgroupBarrier();
    totals[lid] += add;
    workgroupBarrier();
  }
  var running = totals[lid] - sum;
  for (var r = begin; r < end; r++) {
    offsets[r] = running;
    running += counts[r];
  }
  if (lid == ${SCAN_WG - 1}u) { offsets[p.rows] = totals[lid]; }
}`,
};

// Counts down each row's counter to claim slots; the counters end at zero.
const placeKernel: Kernel = {
  name: "scatter_place_positions",
  code: `
struct Params { m: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> order: array<u32>;
${ENTRY} {
  ${INDEX}
  if (i >= p.m) { return; }
  let row = index[i];
  if (row < 0 || u32(row) >= p.rows) { return; }
  let slot = atomicSub(&counts[u32(row)], 1u) - 1u;
  order[offsets[u32(row)] + slot] = i;
}`,
};

// Heapsort of each row's positions by one invocation: O(k log k) even for a row that holds every
// position (padding tokens), in place, no recursion.
const sortKernel: Kernel = {
  name: "scatter_sort_segments",
  code: `
struct Params { rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> order: array<u32>;
fn sift(base: u32, start: u32, end: u32) {
  var root = start;
  loop {
    var child = 2u * root + 1u;
    if (child >= end) { break; }
    if (child + 1u < end && order[base + child] < order[base + child + 1u]) { child += 1u; }
    if (order[base + root] >= order[base + child]) { break; }
    let t = order[base + root];
    order[base + root] = order[base + child];
    order[base + child] = t;
    root = child;
  }
}
${ENTRY} {
  ${INDEX}
  if (i >= p.rows) { return; }
  let base = offsets[i];
  let n = offsets[i + 1u] - base;
  if (n < 2u) { return; }
  for (var s = n / 2u; s > 0u; s--) { sift(base, s - 1u, n); }
  for (var end = n - 1u; end > 0u; end--) {
    let t = order[base];
    order[base] = order[base + end];
    order[base + end] = t;
    sift(base, 0u, end);
  }
}`,
};

const sumKernels = new Map<string, Kernel>();
/**
 * The per-row sum over a row grid (row_grid.ts: no per-element division), of vec4s when `d` is a
 * multiple of 4; with `base`, the sum is added to the base gradient in the same pass.
 */
function sumKernel(vec4: boolean, base: boolean, perGroup: number): Kernel {
  const name = `scatter_sum_rows_${vec4 ? "vec4f" : "f32"}${base ? "_acc" : ""}` +
    (perGroup > 1 ? `_r${perGroup}` : "");
  let k = sumKernels.get(name);
  if (k) return k;
  const type = vec4 ? "vec4f" : "f32";
  k = {
    name,
    code: `
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> src: array<${type}>;
@group(0) @binding(4) var<storage, read_write> out: array<${type}>;
${base ? `@group(0) @binding(5) var<storage, read> base: array<${type}>;` : ""}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup)}
  var acc = ${type}(0.0);
  for (var j = offsets[row]; j < offsets[row + 1u]; j++) { acc += src[order[j] * p.cols + col]; }
  let i = row * p.cols + col;
  out[i] = ${base ? "base[i] + acc" : "acc"};
}`,
  };
  sumKernels.set(name, k);
  return k;
}

/** Scratch buffers of {@linkcode scatterAddRows}, owned and zeroed by the caller. */
export interface ScatterScratch {
  /** `rows` u32 words, all zero on entry (and again on exit). */
  counts: GPUBuffer;
  /** `rows + 1` u32 words. */
  offsets: GPUBuffer;
  /** `m` u32 words. */
  order: GPUBuffer;
}

/**
 * out[r, :] = Σ_{m : index[m] = r} src[m, :] over f32 rows of width `d`, summed in increasing m;
 * indices outside [0, rows) are skipped. Every row of `out` is written. With `base` ([rows, d]),
 * out = base + that sum, in one pass (the sum first, then added: the same bits as adding after).
 */
export function scatterAddRows(
  src: GPUBuffer,
  index: GPUBuffer,
  m: number,
  d: number,
  rows: number,
  out: GPUBuffer,
  scratch: ScatterScratch,
  base?: GPUBuffer,
): void {
  if (rows * d === 0) return;
  const { counts, offsets, order } = scratch;
  if (m > 0) dispatch(countKernel, [index, counts], [m, rows], grid(Math.ceil(m / WG)));
  dispatch(scanKernel, [counts, offsets], [rows], [1]);
  if (m > 0) {
    dispatch(placeKernel, [index, offsets, counts, order], [m, rows], grid(Math.ceil(m / WG)));
    dispatch(sortKernel, [offsets, order], [rows], grid(Math.ceil(rows / WG)));
  }
  const vec4 = d % 4 === 0;
  const cols = vec4 ? d / 4 : d;
  const perGroup = rowsPerGroup(cols);
  dispatch(
    sumKernel(vec4, base !== undefined, perGroup),
    base ? [offsets, order, src, out, base] : [offsets, order, src, out],
    [rows, cols],
    rowGrid(cols, rows, perGroup),
  );
}
