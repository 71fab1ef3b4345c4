/**
 * Dynamic loss scaling for mixed precision: the loss is multiplied by a scale so that small
 * gradients stay representable in f16, the gradients are divided by it before the update, and the
 * scale backs off when a step overflows and grows after a run of finite steps. The scale lives in a
 * GPU buffer and is adapted by a kernel that reads the same gradient norm as the optimizer's
 * non-finite guard, so a step with loss scaling adds no sync.
 *
 * @module
 */
import { mul } from "../ops/elementwise.ts";
import { keep } from "../scope.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { readBuffer, writeBuffer } from "../../kernels/runtime.ts";
import { unscaleGrads, updateScale } from "../../kernels/grad_scaler.wgsl.ts";
import { gradNorm } from "./clip.ts";
import type { Optimizer, StepOptions } from "./optimizer.ts";
import { distinctGrads } from "./params.ts";

/** Options of {@linkcode GradScaler}; the defaults are PyTorch's. */
export interface GradScalerOptions {
  /** The first scale (default 2¹⁶). */
  initScale?: number;
  /** Multiplies the scale after `growthInterval` finite steps in a row (default 2). */
  growthFactor?: number;
  /** Multiplies the scale when a step's gradients are not finite (default 0.5). */
  backoffFactor?: number;
  /** Finite steps in a row before the scale grows (default 2000). */
  growthInterval?: number;
  /** When false, `scale` returns the loss and `step` only calls the optimizer (default true). */
  enabled?: boolean;
}

/** The scaler's state on the host (for checkpoints). */
export interface GradScalerState {
  scale: number;
  /** Finite steps since the last growth or backoff. */
  growthTracker: number;
}

/**
 * A dynamic loss scaler, used as PyTorch's `GradScaler`:
 * ```ts
 * scaler.scale(loss).backward();
 * scaler.unscale(opt);                    // only when clipping: then clip the true gradients
 * const norm = optim.clipGradNorm(opt.parameters(), 1);
 * scaler.step(opt, { gradNorm: norm });   // a skipped (non-finite) step halves the scale
 * opt.zeroGrad();
 * ```
 */
export class GradScaler {
  /** Whether scaling is on. */
  readonly enabled: boolean;
  /** Scale factors and growth interval. */
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  #scale: Tensor;
  #tracker: Tensor;
  #unscaled = new WeakSet<Optimizer>();

  /** Creates the scaler with its scale on the GPU. */
  constructor(options: GradScalerOptions = {}) {
    const initScale = options.initScale ?? 2 ** 16;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    this.enabled = options.enabled ?? true;
    if (!(initScale > 0 && Number.isFinite(initScale))) {
      throw new Error(`GradScaler: initScale must be finite and > 0, got ${initScale}`);
    }
    if (!(this.growthFactor > 1)) {
      throw new Error(`GradScaler: growthFactor must be > 1, got ${this.growthFactor}`);
    }
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) {
      throw new Error(`GradScaler: backoffFactor must lie in (0, 1), got ${this.backoffFactor}`);
    }
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval >= 1)) {
      throw new Error(
        `GradScaler: growthInterval must be an integer ≥ 1, got ${this.growthInterval}`,
      );
    }
    this.#scale = keep(tensor([initScale], []));
    this.#tracker = keep(tensor([0], [1], "i32"));
  }

  /** `loss` × the current scale (read on the GPU); call `backward()` on the result. */
  scale(loss: Tensor): Tensor {
    return this.enabled ? mul(loss, this.#scale) : loss;
  }

  /**
   * Divides the gradients of `optimizer`'s parameters by the scale, in place; at most once per
   * step (a second call before `step` does nothing). Call it before clipping or inspecting
   * gradients; `step` calls it otherwise.
   */
  unscale(optimizer: Optimizer): void {
    if (!this.enabled || this.#unscaled.has(optimizer)) return;
    unscaleGrads(distinctGrads(optimizer.parameters()), this.#scale.buffer);
    this.#unscaled.add(optimizer);
  }

  /**
   * Unscales (unless done), runs `optimizer.step` and adapts the scale, all without a sync. A
   * non-finite gradient norm makes the optimizer skip the step (and count the skip) and the scale
   * back off; `options.gradNorm` must then be the norm of the unscaled gradients.
   */
  step(optimizer: Optimizer, options: StepOptions = {}): void {
    if (!this.enabled) {
      optimizer.step(options);
      return;
    }
    if (options.gradNorm && !this.#unscaled.has(optimizer)) {
      throw new Error(
        "GradScaler.step: a gradNorm was given but the gradients are still scaled; call " +
          "scaler.unscale(optimizer) before computing it (e.g. before clipGradNorm)",
      );
    }
    this.unscale(optimizer);
    const norm = options.gradNorm ?? gradNorm(optimizer.parameters());
    optimizer.step({ ...options, gradNorm: norm });
    updateScale(norm.buffer, this.#scale.buffer, this.#tracker.buffer, this);
    if (!options.gradNorm) norm.dispose();
    this.#unscaled.delete(optimizer);
  }

  /** The current scale (one sync). */
  async getScale(): Promise<number> {
    return (await this.state()).scale;
  }

  /** Scale and growth tracker, read back (one sync). */
  async state(): Promise<GradScalerState> {
    const scale = new Float32Array(await readBuffer(this.#scale.buffer, 4))[0];
    const growthTracker = new Uint32Array(await readBuffer(this.#tracker.buffer, 4))[0];
    return { scale, growthTracker };
  }

  /** Restores a state from {@linkcode state}. */
  loadState(state: GradScalerState): void {
    if (!(state.scale > 0 && Number.isFinite(state.scale))) {
      throw new Error(`GradScaler.loadState: bad scale ${state.scale}`);
    }
    writeBuffer(this.#scale.buffer, Float32Array.of(state.scale));
    writeBuffer(this.#tracker.buffer, Uint32Array.of(state.growthTracker));
  }

  /** Releases the scaler's GPU buffers. */
  dispose(): void {
    this.#scale.dispose();
    this.#tracker.dispose();
  }
}
