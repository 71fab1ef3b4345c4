/**
 * Scores an ABSA model on examples: predictions per aspect, then accuracy, macro-F1, per-class
 * scores and the confusion matrix over the 3-way labels (other gold labels, e.g. SemEval's
 * `conflict`, are counted and reported apart).
 *
 * @module
 */
import type { FastClaraAbsa } from "../../core/models/fast_clara_absa.ts";
import {
  type ClassificationReport,
  classificationReport,
  confusionMatrix,
} from "../../core/metrics/classification.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import * as ops from "../../core/ops/mod.ts";
import type { Tensor } from "../../core/tensor.ts";
import { collateAbsa, encodeBatch } from "./batch.ts";
import { type AbsaExample, type AbsaSpecialIds, POLARITY_LABELS } from "./examples.ts";

/**
 * Polarity probabilities [N, labels] of every scored aspect of `examples` (no gradients), collated
 * the way the model was built (slot memory, aspect regions). The caller disposes the result.
 */
export function polarityProbabilities(
  model: FastClaraAbsa,
  examples: readonly AbsaExample[],
  special: AbsaSpecialIds,
): Tensor {
  return noGrad(() =>
    tidy(() => {
      const batch = collateAbsa(examples, special, {
        slotMemory: model.config.slotMemory,
        aspectRegions: model.config.aspectRegions,
        aspectAttention: model.config.aspectAttention,
      });
      const { memory } = encodeBatch(model, batch);
      return ops.softmax(model.classify(memory, batch.prompts));
    })
  );
}

/** Predicted class index per scored aspect of each example, in order. */
export async function predictAbsa(
  model: FastClaraAbsa,
  examples: readonly AbsaExample[],
  special: AbsaSpecialIds,
  batchSize = 64,
): Promise<number[]> {
  const wasTraining = model.training;
  model.eval();
  const predictions: number[] = [];
  try {
    for (let i = 0; i < examples.length; i += batchSize) {
      const chunk = examples.slice(i, i + batchSize);
      if (!chunk.some((e) => e.aspects.some((a) => a.label >= 0))) continue;
      const probs = polarityProbabilities(model, chunk, special);
      const p = await probs.data();
      probs.dispose();
      const k = POLARITY_LABELS.length;
      for (let r = 0; r < p.length / k; r++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (p[r * k + c] > p[r * k + best]) best = c;
        predictions.push(best);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return predictions;
}

/** The evaluation report plus counts of aspects left out of the 3-way score. */
export interface AbsaEvaluation extends ClassificationReport {
  /** Gold labels outside the 3-way scheme (e.g. conflict) by name; not scored. */
  excluded: Record<string, number>;
}

/** Predicts and scores `examples`. */
export async function evaluateAbsa(
  model: FastClaraAbsa,
  examples: readonly AbsaExample[],
  special: AbsaSpecialIds,
  batchSize = 64,
): Promise<AbsaEvaluation> {
  const predicted = await predictAbsa(model, examples, special, batchSize);
  const gold = examples.flatMap((e) => e.aspects.filter((a) => a.label >= 0).map((a) => a.label));
  const excluded: Record<string, number> = {};
  for (const e of examples) {
    for (const a of e.aspects) {
      if (a.label < 0) excluded[a.polarity] = (excluded[a.polarity] ?? 0) + 1;
    }
  }
  const report = classificationReport(
    confusionMatrix(gold, predicted, POLARITY_LABELS.length),
    POLARITY_LABELS,
  );
  return { ...report, excluded };
}
