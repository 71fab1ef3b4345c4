/**
 * Evaluation of a latent-QA model or its baseline: greedy answers through the KV-cached decoder,
 * SQuAD EM/F1, and for the latent kind the mean attention mass on supporting tokens (with the
 * supporting tokens' share of the context, its chance level) and the gate value; plus what the
 * comparison reports: context tokens read, decoder memory length and inference time.
 *
 * @module
 */
import type { LatentQaModel } from "../../core/models/latent_qa.ts";
import { commonestAnswer, qaScores } from "../../core/metrics/qa.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { collateQa } from "./batch.ts";
import { type QaExample, type QaSpecialIds, supportShare } from "./examples.ts";
import { supportMass } from "./objective.ts";

/** What {@linkcode evaluateQa} reports. */
export interface QaReport {
  em: number;
  f1: number;
  n: number;
  /** Mean attention mass on supporting tokens (latent kind; NaN for the baseline). */
  support_mass: number;
  /** Supporting tokens' share of the context tokens (the mass a uniform attention would give). */
  support_share: number;
  /** tanh(g) of the gate (0 for the baseline). */
  gate: number;
  /** Mean context tokens the model reads per question (baseline: context inside its source). */
  context_tokens: number;
  /** Mean length of the encoder memory the decoder cross-attends to. */
  decoder_input: number;
  /** Wall milliseconds per question of encoding and generation (the support-mass sum excluded). */
  ms_per_example: number;
  /** The commonest normalised answer and the share of questions given it. */
  commonest_answer: string;
  commonest_share: number;
  /** The answers, in input order. */
  predictions: string[];
}

/** Options of {@linkcode evaluateQa}. */
export interface EvaluateQaOptions {
  batchSize: number;
  maxAnswer: number;
}

/** Scores `model` on `examples` (eval mode; the caller switches training back on). */
export async function evaluateQa(
  model: LatentQaModel,
  tokenizer: TextTokenizer,
  special: QaSpecialIds,
  examples: readonly QaExample[],
  options: EvaluateQaOptions,
): Promise<QaReport> {
  if (examples.length === 0) throw new Error("evaluateQa: no examples");
  model.eval();
  const kind = model.config.kind;
  let elapsed = 0;
  const predictions: string[] = [];
  let massSum = 0, massRows = 0;
  for (let start = 0; start < examples.length; start += options.batchSize) {
    const part = examples.slice(start, start + options.batchSize);
    const batch = tidy(() => collateQa(part, kind, special));
    try {
      const t0 = performance.now();
      const m = noGrad(() => tidy(() => model.encode(batch.input)));
      let generation;
      try {
        generation = await model.generateFrom(m, part.length, {
          bos: special.bos,
          eos: special.eos,
          maxNewTokens: options.maxAnswer,
        });
        elapsed += performance.now() - t0;
        if (m.attn && batch.supportedRows > 0) {
          const mass = noGrad(() =>
            tidy(() => supportMass(m.attn!, batch.support!, batch.supportedMask!))
          );
          massSum += (await mass.data())[0] * batch.supportedRows;
          massRows += batch.supportedRows;
          mass.dispose();
        }
      } finally {
        model.releaseMemory(m, batch.input);
      }
      for (const ids of generation.tokens) {
        predictions.push(tokenizer.decode(ids, { skipSpecialTokens: true, cleanUp: true }).trim());
      }
    } finally {
      disposeBatch(batch);
    }
  }
  const scores = qaScores(predictions, examples.map((e) => e.answer));
  const commonest = commonestAnswer(predictions);
  const mean = (f: (e: QaExample) => number) =>
    examples.reduce((n, e) => n + f(e), 0) / examples.length;
  const latent = kind === "latent";
  const questionOf = (e: QaExample) => latent ? e.question.length : e.source.length;
  return {
    ...scores,
    support_mass: latent ? (massRows ? massSum / massRows : NaN) : NaN,
    support_share: supportShare(examples),
    gate: await model.gateValue(),
    context_tokens: latent ? mean((e) => e.context.length) : mean((e) => e.sourceContext),
    decoder_input: mean(questionOf) + (latent ? model.config.latents : 0),
    ms_per_example: elapsed / examples.length,
    commonest_answer: commonest.answer,
    commonest_share: commonest.share,
    predictions,
  };
}

function disposeBatch(batch: ReturnType<typeof collateQa>): void {
  const { input } = batch;
  for (
    const t of [
      input.source,
      input.sourcePadding,
      input.context,
      input.contextPadding,
      batch.targetIn,
      batch.targetOut,
      batch.targetPadding,
      batch.support,
      batch.supportedMask,
    ]
  ) t?.dispose();
}
