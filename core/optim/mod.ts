/**
 * Optimizers (AdamW, SGD) with parameter groups, fused multi-parameter update kernels, global-norm
 * gradient clipping, a sync-free non-finite guard, and learning-rate schedules.
 *
 * ```ts
 * const opt = new optim.AdamW([{ params: body, lr: 1e-3 }, { params: head, lr: 1e-4, weightDecay: 0 }],
 *   { lr: 1e-3, schedule: optim.warmupCosine({ warmupSteps: 100, totalSteps: 10_000 }) });
 * loss.backward();
 * const norm = optim.clipGradNorm(opt.parameters(), 1.0);
 * opt.step({ gradNorm: norm });
 * opt.zeroGrad();
 * norm.dispose();
 * ```
 *
 * @module
 */
export { AdamW, type AdamWOptions } from "./adamw.ts";
export { SGD, type SGDOptions } from "./sgd.ts";
export {
  Optimizer,
  type OptimizerOptions,
  type OptimizerSnapshot,
  type StepOptions,
} from "./optimizer.ts";
export type { ParamGroup, ResolvedGroup } from "./params.ts";
export { clipGradNorm, gradNorm } from "./clip.ts";
export { WeightAverage } from "./ema.ts";
export { GradScaler, type GradScalerOptions, type GradScalerState } from "./grad_scaler.ts";
export {
  type Schedule,
  warmupConstant,
  warmupCosine,
  type WarmupDecayOptions,
  warmupLinear,
} from "./schedule.ts";
