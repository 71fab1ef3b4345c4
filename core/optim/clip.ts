/**
 * The global gradient norm and clipping by it, computed and applied on the GPU with no readback.
 *
 * @module
 */
import { Tensor } from "../tensor.ts";
import { clipByNorm, globalNorm, sumSquaresPartialCount } from "../../kernels/optim.wgsl.ts";
import { distinctGrads } from "./params.ts";

/**
 * √(Σ‖gᵢ‖²) over the gradients of `params` (params without a gradient are ignored), as a scalar
 * tensor that the caller owns. Recorded on the GPU; nothing is read back.
 */
export function gradNorm(params: Iterable<Tensor>): Tensor {
  const grads = distinctGrads(params);
  const norm = new Tensor([], "f32");
  const partials = new Tensor([Math.max(1, sumSquaresPartialCount(grads))], "f32");
  globalNorm(grads, partials.buffer, norm.buffer);
  partials.dispose();
  return norm;
}

/**
 * Clips gradients in place to a global norm of at most `maxNorm`: every gradient is scaled by
 * min(1, maxNorm / (norm + 1e-6)), with the norm read from a GPU buffer (no sync). Returns the
 * norm before clipping as a scalar tensor the caller owns (pass it to `optimizer.step({ gradNorm })`
 * to spare the optimizer recomputing it). A non-finite norm leaves the gradients untouched, so that
 * the optimizer's non-finite guard skips the step.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const list = [...params];
  const norm = gradNorm(list);
  clipByNorm(distinctGrads(list), norm.buffer, maxNorm);
  return norm;
}
