/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay and bias correction, as one fused
 * kernel over many parameters per dispatch.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { adamwUpdate, type UpdateSlot } from "../../kernels/optim.wgsl.ts";
import { Optimizer, type OptimizerOptions } from "./optimizer.ts";
import type { ParamGroup } from "./params.ts";

/** Options of {@linkcode AdamW}. */
export interface AdamWOptions extends OptimizerOptions {
  /** Decay rates of the first and second moments (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to √v̂ (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay: p ← p·(1 − lr·wd) (default 0.01). */
  weightDecay?: number;
}

/**
 * AdamW, matching PyTorch's `torch.optim.AdamW`: per element,
 * p ← p(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 * p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε), with t the number of applied steps.
 */
export class AdamW extends Optimizer {
  /** First and second moment decay rates. */
  readonly betas: [number, number];
  /** Denominator epsilon. */
  readonly eps: number;

  /** Creates the optimizer and its zeroed moments (on the GPU). */
  constructor(params: Tensor[] | ParamGroup[], options: AdamWOptions) {
    super(
      params,
      { lr: options.lr, weightDecay: options.weightDecay ?? 0.01, schedule: options.schedule },
      "adamw",
      ["m", "v"],
    );
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    for (const b of this.betas) {
      if (!(b > 0 && b < 1)) throw new Error(`AdamW: betas must lie in (0, 1), got ${this.betas}`);
    }
    if (!(this.eps > 0)) throw new Error(`AdamW: eps must be > 0, got ${this.eps}`);
  }

  /** Records the fused AdamW update. */
  protected update(
    slots: UpdateSlot[],
    state: GPUBuffer | null,
    norm: GPUBuffer,
    counters: GPUBuffer,
  ): void {
    const [beta1, beta2] = this.betas;
    adamwUpdate(slots, state!, norm, counters, { beta1, beta2, eps: this.eps });
  }
}
