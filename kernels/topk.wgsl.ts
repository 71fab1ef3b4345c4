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
