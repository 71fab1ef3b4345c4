/**
 * Top-k selection of candidates as one-hot slots, in the three forms CLaRa's stage 3 compares:
 * straight-through (hard forward, soft backward), soft only, and hard only (no gradient); and
 * the indices of the k best scores per row, for retrieval over a large index.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { TOPK_INDICES_MAX, topkIndicesRaw, topkSlots } from "../../kernels/topk.wgsl.ts";
import { mul } from "./elementwise.ts";
import { softmax } from "./softmax.ts";
import { broadcastTo } from "./broadcast.ts";

/** Z_hard and the per-slot mask of the candidates taken by earlier slots, both [B, k, N]. */
function hardSlots(scores: Tensor, k: number, op: string): { hard: Tensor; mask: Tensor } {
  if (scores.rank !== 2) throw new Error(`${op} expects scores [B, N], got [${scores.shape}]`);
  const [b, n] = scores.shape;
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`${op}: k = ${k} must be in 1…${n}`);
  }
  const hard = new Tensor([b, k, n], "f32");
  const mask = new Tensor([b, k, n], "f32");
  topkSlots(scores.buffer, hard.buffer, mask.buffer, b, n, k);
  return { hard, mask };
}

/** Z_soft [B, k, N]: slot j is softmax(scores / tau) over the candidates earlier slots left. */
function softSlots(scores: Tensor, mask: Tensor, k: number, tau: number): Tensor {
  const [b, n] = scores.shape;
  const scaled = broadcastTo(mul(scores, 1 / tau).reshape([b, 1, n]), [b, k, n]);
  return softmax(scaled, mask);
}

/**
 * Selects the k best of N candidates per row of `scores` [B, N] as one-hot slots [B, k, N].
 * Forward: exactly the hard selection Z_hard. Backward: through Z_soft, where slot j is
 * softmax(scores / tau) over the candidates not taken by slots before j; i.e.
 * Z = Z_hard + Z_soft − stopGradient(Z_soft).
 */
export function steTopK(scores: Tensor, k: number, tau = 1): Tensor {
  const { hard, mask } = hardSlots(scores, k, "steTopK");
  const soft = softSlots(scores, mask, k, tau);
  return attach(hard, "steTopK", [soft], (g) => [g]);
}

/**
 * Z_soft alone [B, k, N]: slot j is softmax(scores / tau) over the candidates not taken by the
 * hard top-(j−1) (the soft path of {@linkcode steTopK}, used as the forward too). Its gradient is
 * the softmax's; the choice of which candidates each slot excludes carries none.
 */
export function softTopK(scores: Tensor, k: number, tau = 1): Tensor {
  const { hard, mask } = hardSlots(scores, k, "softTopK");
  hard.dispose();
  return softSlots(scores, mask, k, tau);
}

/**
 * Z_hard alone [B, k, N], a constant: the same one-hot slots as {@linkcode steTopK}'s forward,
 * with no gradient to `scores` (the "hard only" ablation: nothing trains the scorer).
 */
export function hardTopK(scores: Tensor, k: number): Tensor {
  const { hard, mask } = hardSlots(scores, k, "hardTopK");
  mask.dispose();
  return hard;
}

/**
 * The k largest entries of each row of `scores` [B, N], best first (equal scores: the lower
 * index first): `indices` i32 [B, k] and `values` f32 [B, k]. No gradient; k ≤ 16. One
 * workgroup per row: each lane keeps the top k of a strided share of the row, lane 0 merges.
 */
export function topkIndices(scores: Tensor, k: number): { indices: Tensor; values: Tensor } {
  if (scores.rank !== 2) {
    throw new Error(`topkIndices expects scores [B, N], got [${scores.shape}]`);
  }
  const [b, n] = scores.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n, TOPK_INDICES_MAX)) {
    throw new Error(`topkIndices: k = ${k} must be in 1…${Math.min(n, TOPK_INDICES_MAX)}`);
  }
  if (scores.dtype !== "f32") {
    throw new Error(`topkIndices: scores must be f32, got ${scores.dtype}`);
  }
  const indices = new Tensor([b, k], "i32");
  const values = new Tensor([b, k], "f32");
  topkIndicesRaw(scores.buffer, indices.buffer, values.buffer, b, n, k);
  return { indices, values };
}
