/**
 * Training: the shared loop ({@linkcode Trainer}) and the optimizer step it and the bench run.
 *
 * ```ts
 * const trainer = new Trainer(task, { out: "runs/x", label: "train:x", epochs: 3, seed: 1 });
 * const result = await trainer.fit();
 * ```
 *
 * @module
 */
export {
  AVERAGE_PREFIX,
  type FitResult,
  type StepContext,
  type StopReason,
  Trainer,
  type TrainerOptions,
  type TrainingTask,
} from "./trainer.ts";
export { optimizerStep, type StepTargets } from "./step.ts";
