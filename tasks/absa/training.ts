/**
 * train:absa as a {@linkcode TrainingTask} for the shared trainer: length-bucketed batches per
 * epoch, the curriculum-weighted ABSA objective per batch, the weights logged per step, and
 * validation by accuracy and macro-F1.
 *
 * @module
 */
import type { FastClaraAbsa } from "../../core/models/fast_clara_absa.ts";
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { StepContext, TrainingTask } from "../../core/train/trainer.ts";
import type { Tensor } from "../../core/tensor.ts";
import { Rng } from "../../core/random.ts";
import { bucketByLength } from "../../datasets/batching.ts";
import { collateAbsa } from "./batch.ts";
import type { AbsaExample, AbsaSpecialIds } from "./examples.ts";
import { evaluateAbsa } from "./evaluate.ts";
import { absaLosses, type Curriculum, curriculumWeights, type LossWeights } from "./objective.ts";

/** The loss terms train:absa logs, the total first. */
export const ABSA_LOSS_TERMS = [
  "loss",
  "loss_rec",
  "loss_absa",
  "loss_mse",
  "loss_ext",
  "loss_span",
];
const WEIGHT_TERMS = ["w_rec", "w_absa", "w_mse", "w_ext", "w_span"];

/** What the ABSA training task is built from. */
export interface AbsaTrainingOptions {
  model: FastClaraAbsa;
  optimizer: Optimizer;
  special: AbsaSpecialIds;
  train: AbsaExample[];
  val: AbsaExample[];
  batchSize: number;
  seed: number;
  curriculum: Curriculum;
  /** Sentences per batch that also train the vocabulary-sized generation losses. */
  recRows: number;
  wordDropout: number;
  labelSmoothing: number;
  /** Writes the best model (the trainer passes the directory). */
  saveBest(dir: string): Promise<void>;
}

/** The ABSA objective, batches and evaluator as a trainer task; batches are example indices. */
export function absaTrainingTask(o: AbsaTrainingOptions): TrainingTask<number[]> {
  const termHead = o.model.config.termHead ?? false;
  const weights = (ctx: StepContext): LossWeights => {
    const w = curriculumWeights(o.curriculum, ctx.progress);
    if (!termHead) w.span = 0;
    return w;
  };
  const lengths = o.train.map((e) => e.tokens.length);
  const orders = new Map<number, number[][]>();
  return {
    model: o.model,
    optimizer: o.optimizer,
    lossTerms: ABSA_LOSS_TERMS,
    metrics: ["accuracy", "macro_f1"],
    logColumns: WEIGHT_TERMS,
    batches(epoch: number): number[][] {
      let order = orders.get(epoch);
      if (!order) {
        order = bucketByLength(lengths, o.batchSize, { seed: o.seed * 1000 + epoch });
        orders.clear();
        orders.set(epoch, order);
      }
      return order;
    },
    loss(indices: number[], ctx: StepContext): Tensor[] {
      const c = o.model.config;
      const batch = collateAbsa(indices.map((i) => o.train[i]), o.special, {
        generativeRows: o.recRows,
        wordDropout: { rate: o.wordDropout, rng: new Rng(o.seed * 7919 + ctx.step) },
        slotMemory: c.slotMemory,
        aspectRegions: c.aspectRegions,
        aspectAttention: c.aspectAttention,
        termWeights: c.termHead,
      });
      const l = absaLosses(o.model, batch, weights(ctx), o.labelSmoothing);
      return [l.total, l.rec, l.absa, l.mse, l.ext, l.span];
    },
    logValues(ctx: StepContext): Record<string, number> {
      const w = weights(ctx);
      return { w_rec: w.rec, w_absa: w.absa, w_mse: w.mse, w_ext: w.ext, w_span: w.span };
    },
    tokens: (indices: number[]) => indices.reduce((n, i) => n + o.train[i].tokens.length, 0),
    async evaluate(): Promise<Record<string, number>> {
      const report = await evaluateAbsa(o.model, o.val, o.special);
      return { accuracy: report.accuracy, macro_f1: report.macro_f1 };
    },
    saveBest: o.saveBest,
  };
}
