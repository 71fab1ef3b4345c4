/**
 * Straight-through top-k: the forward is the hard selection, the backward is the soft one.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { topkSlots } from "../../kernels/topk.wgsl.ts";
import { mul } from "./elementwise.ts";
import { softmax } from "./softmax.ts";
import { broadcastTo } from "./broadcast.ts";

/**
 * Selects the k best of N candidates per row of `scores` [B, N] as one-hot slots [B, k, N].
 * Forward: exactly the hard selection Z_hard. Backward: through Z_soft, where slot j is
 * softmax(scores / tau) over the candidates not taken by slots before j; i.e.
 * Z = Z_hard + Z_soft − stopGradient(Z_soft).
 */
export function steTopK(scores: Tensor, k: number, tau = 1): Tensor {
  if (scores.rank !== 2) throw new Error(`steTopK expects scores [B, N], got [${scores.shape}]`);
  const [b, n] = scores.shape;
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`steTopK: k = ${k} must be in 1…${n}`);
  }
  const hard = new Tensor([b, k, n], "f32");
  const mask = new Tensor([b, k, n], "f32");
  topkSlots(scores.buffer, hard.buffer, mask.buffer, b, n, k);
  const scaled = broadcastTo(mul(scores, 1 / tau).reshape([b, 1, n]), [b, k, n]);
  const soft = softmax(scaled, mask);
  return attach(hard, "steTopK", [soft], (g) => [g]);
}
