/**
 * The Fast CLaRa ABSA objective, `L = α·L_rec + β·L_absa + γ·L_mse + δ·L_ext + ε·L_span`, and
 * the curriculum that moves weight from reconstruction to reasoning over training.
 *
 * @module
 */
import type { FastClaraAbsa } from "../../core/models/fast_clara_absa.ts";
import { sequenceCrossEntropy } from "../../core/nn/losses.ts";
import { full, type Tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import type { AbsaBatch } from "./batch.ts";

/** Loss weights at one point of training. */
export interface LossWeights {
  /** Reconstruction weight α. */
  rec: number;
  /** Polarity weight β. */
  absa: number;
  /** Memory/text alignment weight γ. */
  mse: number;
  /** Extraction weight δ. */
  ext: number;
  /** Weight ε of L_span, the auxiliary polarity loss on the encoder's term-span states. */
  span: number;
}

/** The curriculum: α falls and β rises linearly between the start and end weights. */
export interface Curriculum {
  start: LossWeights;
  end: LossWeights;
}

/**
 * Default curriculum: reconstruction and extraction fall from 0.3 to 0.05 and 0.1 while polarity
 * rises from 0.9 to 1, so the sentence-reconstruction loss (≈ 6 nats) does not dominate the shared
 * backbone's gradient early on (README's results compare it with a reconstruction-heavy start).
 * L_span keeps ε = 0.5 throughout (it applies only to models with a term head).
 */
export const DEFAULT_CURRICULUM: Curriculum = {
  start: { rec: 0.3, absa: 0.9, mse: 0.1, ext: 0.3, span: 0.5 },
  end: { rec: 0.05, absa: 1.0, mse: 0.1, ext: 0.1, span: 0.5 },
};

/**
 * Parses a curriculum spec `term=start:end,…` (terms rec, absa, mse, ext, span); terms left out keep
 * their value in `base`.
 */
export function parseCurriculum(spec: string, base: Curriculum = DEFAULT_CURRICULUM): Curriculum {
  const c: Curriculum = { start: { ...base.start }, end: { ...base.end } };
  for (const part of spec.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const match = /^(rec|absa|mse|ext|span)=([^:]+):([^:]+)$/.exec(part);
    const [start, end] = match ? [Number(match[2]), Number(match[3])] : [NaN, NaN];
    if (!match || !(start >= 0) || !(end >= 0)) {
      throw new Error(
        `--curriculum: "${part}" is not term=start:end with a term of rec, absa, mse, ext, span and ` +
          `weights ≥ 0 (e.g. "rec=1:0.1,absa=0.5:1")`,
      );
    }
    const term = match[1] as keyof LossWeights;
    c.start[term] = start;
    c.end[term] = end;
  }
  return c;
}

/** Weights at `progress` ∈ [0, 1] of training (clamped). */
export function curriculumWeights(c: Curriculum, progress: number): LossWeights {
  const p = Math.min(1, Math.max(0, progress));
  const at = (k: keyof LossWeights) => c.start[k] * (1 - p) + c.end[k] * p;
  return { rec: at("rec"), absa: at("absa"), mse: at("mse"), ext: at("ext"), span: at("span") };
}

/** The loss terms of one batch (scalars) and the polarity logits. */
export interface AbsaLosses {
  total: Tensor;
  rec: Tensor;
  absa: Tensor;
  mse: Tensor;
  ext: Tensor;
  /** L_span (0 when the model has no term head or the batch no term weights). */
  span: Tensor;
  logits: Tensor;
}

/** Runs both phases on a batch and combines the losses with `w`. */
export function absaLosses(
  model: FastClaraAbsa,
  batch: AbsaBatch,
  w: LossWeights,
  labelSmoothing = 0,
): AbsaLosses {
  const { memory, text } = model.encode(
    batch.encoderIds,
    batch.encoderPadding,
    batch.encoderAspects,
    batch.encoderDistances,
    batch.memoryDistances,
  );
  const logits = model.classify(memory, batch.prompts);
  const absa = ops.crossEntropy(logits, batch.labels, { labelSmoothing });
  const r = batch.reconstruction, e = batch.extraction;
  const genMemory = ops.slice(memory, 0, 0, r.ids.shape[0]);
  // With frozen word vectors the output table is a vocabulary-sized sum: build it once per step.
  const table = model.tokenTable();
  const generate = (t: typeof r) =>
    sequenceCrossEntropy(model.generateLogits(genMemory, t.ids, t.padding, table), t.targets);
  const rec = generate(r);
  const ext = generate(e);
  const mse = model.alignmentLoss(memory, text, batch.textPadding);
  const span = model.termHead && batch.termWeights
    ? ops.crossEntropy(
      model.classifyTerms(text, batch.prompts.memoryIndex, batch.termWeights),
      batch.labels,
      { labelSmoothing },
    )
    : full([], 0);
  const total = ops.add(
    ops.add(ops.add(ops.mul(rec, w.rec), ops.mul(absa, w.absa)), ops.mul(span, w.span)),
    ops.add(ops.mul(mse, w.mse), ops.mul(ext, w.ext)),
  );
  return { total, rec, absa, mse, ext, span, logits };
}
