/**
 * One optimizer step over one or more micro-batches: backward, global-norm clipping, the
 * optimizer (whose non-finite guard skips a bad update on the GPU), zeroing and the weight
 * average. Shared by {@linkcode Trainer} and the bench, so both time exactly the same step.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { WeightAverage } from "../optim/ema.ts";
import { clipGradNorm, gradNorm } from "../optim/clip.ts";
import { tidy } from "../scope.ts";
import * as ops from "../ops/mod.ts";

/** What a step updates. */
export interface StepTargets {
  /** The trainable parameters (clipped together). */
  params: Tensor[];
  /** Applies the update. */
  optimizer: Optimizer;
  /** Updated after the optimizer when given. */
  average?: WeightAverage | null;
  /** Global gradient-norm clip (0: no clipping, the norm is still measured). */
  clipNorm: number;
}

/**
 * Runs one optimizer step. Each entry of `microBatches` builds the scalar loss terms of one
 * micro-batch, the first being the total that is backpropagated (scaled by 1/N for N
 * micro-batches, so gradients are those of the mean). Returns one f32 tensor
 * `[term₀ … termₖ, gradNorm]` with each term averaged over the micro-batches, not yet read back.
 * Call it inside a `tidy` scope.
 */
export function optimizerStep(targets: StepTargets, microBatches: (() => Tensor[])[]): Tensor {
  if (microBatches.length === 0) throw new Error("optimizerStep: no micro-batches");
  let terms: Tensor[];
  if (microBatches.length === 1) {
    terms = microBatches[0]();
    terms[0].backward();
  } else {
    const scale = 1 / microBatches.length;
    const sums = microBatches.map((build) =>
      tidy(() => {
        const t = build();
        ops.mul(t[0], scale).backward();
        return ops.concat(t.map((x) => x.detach().reshape([1])), 0);
      })
    );
    const mean = ops.mul(sums.reduce((a, b) => ops.add(a, b)), scale);
    terms = Array.from({ length: mean.shape[0] }, (_, i) => ops.slice(mean, 0, i, i + 1));
  }
  const norm = targets.clipNorm > 0
    ? clipGradNorm(targets.params, targets.clipNorm)
    : gradNorm(targets.params);
  targets.optimizer.step({ gradNorm: norm });
  targets.optimizer.zeroGrad();
  targets.average?.update();
  return ops.concat([...terms, norm].map((t) => t.reshape([1])), 0);
}
