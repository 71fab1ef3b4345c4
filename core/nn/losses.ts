/**
 * The training losses of the memory-token models, composed from ops.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** Token cross-entropy over logits [B, T, V] and i32 targets [B, T], skipping `ignoreIndex`. */
export function sequenceCrossEntropy(
  logits: Tensor,
  targets: Tensor,
  ignoreIndex = -100,
  labelSmoothing = 0,
): Tensor {
  const v = logits.shape.at(-1)!;
  return ops.crossEntropy(logits.reshape([-1, v]), targets.reshape([-1]), {
    ignoreIndex,
    labelSmoothing,
  });
}

/** Mean of x [B, T, D] over the positions where mask [B, T] is 1 → [B, D]. */
export function maskedMean(x: Tensor, mask: Tensor): Tensor {
  const [b, t] = mask.shape;
  const m = mask.reshape([b, t, 1]);
  return ops.div(ops.sum(ops.mul(x, m), 1), ops.add(ops.sum(m, 1), 1e-6));
}

/**
 * Support-attention loss −log(attention mass on supporting tokens), averaged over latents and
 * batch: attn [B, L, S] (rows sum to 1), support [B, S] with 1 on supporting-fact tokens.
 */
export function supportAttentionLoss(attn: Tensor, support: Tensor, eps = 1e-6): Tensor {
  const [b, , s] = attn.shape;
  const mass = ops.sum(ops.mul(attn, support.reshape([b, 1, s])), -1);
  return ops.neg(ops.mean(ops.log(ops.add(mass, eps))));
}
