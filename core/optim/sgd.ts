/**
 * Stochastic gradient descent with optional momentum and (coupled, L2) weight decay, fused over
 * many parameters per dispatch.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { sgdUpdate, type UpdateSlot } from "../../kernels/optim.wgsl.ts";
import { Optimizer, type OptimizerOptions } from "./optimizer.ts";
import type { ParamGroup } from "./params.ts";

/** Options of {@linkcode SGD}. */
export interface SGDOptions extends OptimizerOptions {
  /** Momentum factor μ (default 0: plain SGD, no state). */
  momentum?: number;
  /** L2 penalty added to the gradient: g ← g + wd·p (default 0). */
  weightDecay?: number;
}

/**
 * SGD matching PyTorch's `torch.optim.SGD` (no dampening, no Nesterov):
 * g ← g + wd·p; buf ← μ·buf + g (buf starts at 0); p ← p − lr·buf (or p − lr·g when μ = 0).
 */
export class SGD extends Optimizer {
  /** Momentum factor. */
  readonly momentum: number;

  /** Creates the optimizer (and its zeroed momentum buffers when μ > 0). */
  constructor(params: Tensor[] | ParamGroup[], options: SGDOptions) {
    const momentum = options.momentum ?? 0;
    if (!(momentum >= 0 && momentum < 1)) {
      throw new Error(`SGD: momentum must lie in [0, 1), got ${momentum}`);
    }
    super(
      params,
      { lr: options.lr, weightDecay: options.weightDecay ?? 0, schedule: options.schedule },
      "sgd",
      momentum > 0 ? ["momentum"] : [],
    );
    this.momentum = momentum;
  }

  /** Records the fused SGD update. */
  protected update(slots: UpdateSlot[], state: GPUBuffer | null, norm: GPUBuffer): void {
    sgdUpdate(slots, state, norm, this.momentum);
  }
}
