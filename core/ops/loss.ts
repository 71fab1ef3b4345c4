/**
 * Losses: cross-entropy fused with log-softmax (one kernel per row forward, one elementwise
 * backward), and mean squared error composed of existing ops.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import {
  crossEntropyBackward,
  type CrossEntropyConfig,
  crossEntropyForward,
  crossEntropyReduce,
  type LossReduction,
} from "../../kernels/loss.wgsl.ts";
import { mul, sub } from "./elementwise.ts";
import { mean } from "./reduce.ts";

/** Options of {@linkcode crossEntropy}. */
export interface CrossEntropyOptions {
  /** Target value whose rows are skipped and left out of the mean's denominator (default -100). */
  ignoreIndex?: number;
  /** ε of the target distribution (1 − ε)·onehot + ε/C, as in PyTorch (default 0). */
  labelSmoothing?: number;
  /** "mean" over counted rows (default), "sum", or "none" for per-row losses shaped like targets. */
  reduction?: LossReduction;
}

function checkCrossEntropy(logits: Tensor, targets: Tensor, o: CrossEntropyOptions): void {
  if (logits.dtype !== "f32" || logits.rank === 0) {
    throw new Error(`crossEntropy: expected f32 logits [..., C], got ${logits}`);
  }
  if (targets.dtype !== "i32") {
    throw new Error(`crossEntropy: targets must be i32 class ids, got ${targets}`);
  }
  const lead = logits.shape.slice(0, -1);
  if (targets.shape.join() !== lead.join()) {
    throw new Error(`crossEntropy: targets ${targets} do not match logits ${logits} without C`);
  }
  const eps = o.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) {
    throw new Error(`crossEntropy: labelSmoothing ${eps} must be in [0, 1]`);
  }
  if (!["mean", "sum", "none"].includes(o.reduction ?? "mean")) {
    throw new Error(`crossEntropy: unknown reduction "${o.reduction}"`);
  }
}

/**
 * Cross-entropy of logits [..., C] (f32) against class ids `targets` [...] (i32), as PyTorch's
 * `cross_entropy`. Rows whose target is `ignoreIndex` (or not a class id in [0, C), which the GPU
 * cannot report) add 0 and are left out of the mean; if every row is left out the mean is 0.
 * Targets get no gradient.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  checkCrossEntropy(logits, targets, options);
  const reduction = options.reduction ?? "mean";
  const cols = logits.shape[logits.rank - 1];
  const config: CrossEntropyConfig = {
    rows: targets.size,
    cols,
    ignoreIndex: options.ignoreIndex ?? -100,
    labelSmoothing: options.labelSmoothing ?? 0,
  };
  const losses = new Tensor(targets.shape, "f32");
  const lse = new Tensor([config.rows], "f32");
  const buffers = {
    logits: logits.buffer,
    targets: targets.buffer,
    losses: losses.buffer,
    lse: lse.buffer,
  };
  crossEntropyForward(buffers, config);
  let out = losses;
  const count = new Tensor([1], "f32");
  if (reduction !== "none") {
    out = new Tensor([], "f32");
    crossEntropyReduce(
      losses.buffer,
      targets.buffer,
      out.buffer,
      count.buffer,
      config,
      reduction === "mean",
    );
    losses.dispose();
  }
  return attach(out, "crossEntropy", [logits], (g) => {
    const dlogits = new Tensor(logits.shape, "f32");
    crossEntropyBackward(buffers, g.buffer, count.buffer, dlogits.buffer, config, reduction);
    return [dlogits];
  });
}

/** Mean over all elements of (a − b)², with broadcasting. */
export function mse(a: Tensor, b: Tensor): Tensor {
  const d = sub(a, b);
  return mean(mul(d, d));
}
