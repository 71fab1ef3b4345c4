/**
 * Per-row top-k selection for the straight-through estimator: writes the hard one-hot slots
 * [B, k, N] and, per slot, an additive mask that hides the candidates chosen by earlier slots.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";

const WG = 64;

const kernel: Kernel = {
  name: "topk_slots",
  code: `
struct Params { rows: u32, n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> hard: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * ${WG}u;
  if (row >= p.rows) { return; }
  let s0 = row * p.n;
  for (var j = 0u; j < p.k; j++) {
    let o = (row * p.k + j) * p.n;
    for (var i = 0u; i < p.n; i++) { hard[o + i] = 0.0; mask[o + i] = 0.0; }
  }
  for (var j = 0u; j < p.k; j++) {
    let o = (row * p.k + j) * p.n;
    // Candidates taken by earlier slots are masked for this slot and all later ones.
    for (var q = 0u; q < j; q++) {
      let prev = (row * p.k + q) * p.n;
      for (var i = 0u; i < p.n; i++) { if (hard[prev + i] > 0.5) { mask[o + i] = -1e9; } }
    }
    var best = 0u;
    var bestScore = -3.4028235e38;
    var found = false;
    for (var i = 0u; i < p.n; i++) {
      let v = scores[s0 + i];
      if (mask[o + i] == 0.0 && (!found || v > bestScore)) { best = i; bestScore = v; found = true; }
    }
    hard[o + best] = 1.0;
  }
}`,
};

/** Fills `hard` and `mask` ([rows, k, n]) from `scores` ([rows, n]); requires k ≤ n. */
export function topkSlots(
  scores: GPUBuffer,
  hard: GPUBuffer,
  mask: GPUBuffer,
  rows: number,
  n: number,
  k: number,
): void {
  dispatch(kernel, [scores, hard, mask], [rows, n, k], grid(Math.ceil(rows / WG)));
}

/** The largest k {@linkcode topkIndicesRaw} takes (each lane keeps this many in registers). */
export const TOPK_INDICES_MAX = 16;
const LANES = 64;

const indicesKernel: Kernel = {
  name: "topk_indices",
  code: `
struct Params { rows: u32, n: u32, k: u32 }
const KMAX = ${TOPK_INDICES_MAX}u;
const LANES = ${LANES}u;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> values: array<f32>;
var<workgroup> laneV: array<f32, ${LANES * TOPK_INDICES_MAX}>;
var<workgroup> laneI: array<u32, ${LANES * TOPK_INDICES_MAX}>;
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let s0 = row * p.n;
  // This lane's top k of candidates lid, lid + LANES, …, sorted best first. Visited in increasing
  // index, so a later equal score never displaces an earlier one (ties keep the lower index).
  var v: array<f32, KMAX>;
  var ix: array<u32, KMAX>;
  var have = 0u;
  for (var i = lid; i < p.n; i += LANES) {
    let s = scores[s0 + i];
    if (have == p.k && !(s > v[p.k - 1u])) { continue; }
    var j = select(have, p.k - 1u, have == p.k);
    if (have < p.k) { have++; }
    while (j > 0u && s > v[j - 1u]) { v[j] = v[j - 1u]; ix[j] = ix[j - 1u]; j--; }
    v[j] = s;
    ix[j] = i;
  }
  for (var j = 0u; j < KMAX; j++) {
    laneV[lid * KMAX + j] = v[j];
    laneI[lid * KMAX + j] = select(0xffffffffu, ix[j], j < have);
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  // Lane 0 merges the sorted lane lists: k times, the best head (equal scores: lower index).
  var head: array<u32, LANES>;
  for (var j = 0u; j < p.k; j++) {
    var best = 0u;
    var bestV = 0.0;
    var bestI = 0xffffffffu;
    for (var l = 0u; l < LANES; l++) {
      if (head[l] >= KMAX) { continue; }
      let c = laneI[l * KMAX + head[l]];
      if (c == 0xffffffffu) { continue; }
      let s = laneV[l * KMAX + head[l]];
      if (bestI == 0xffffffffu || s > bestV || (s == bestV && c < bestI)) {
        best = l;
        bestV = s;
        bestI = c;
      }
    }
    head[best]++;
    indices[row * p.k + j] = i32(bestI);
    values[row * p.k + j] = bestV;
  }
}`,
};

/**
 * Writes the k best entries of each row of `scores` [rows, n] (best first, ties to the lower
 * index) to `indices` (i32) and `values` (f32), both [rows, k]; requires k ≤ min(n, 16).
 */
export function topkIndicesRaw(
  scores: GPUBuffer,
  indices: GPUBuffer,
  values: GPUBuffer,
  rows: number,
  n: number,
  k: number,
): void {
  dispatch(indicesKernel, [scores, indices, values], [rows, n, k], grid(rows));
}
