/**
 * Collation of tokenized QA examples into the tensors of one batch: the model input of either
 * kind, teacher-forced decoder input/targets (`[CLS] answer` → `answer [SEP]`), and the support
 * mask of the latent kind.
 *
 * @module
 */
import type { LatentQaInput, LatentQaKind } from "../../core/models/latent_qa.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import { IGNORE_INDEX, padRows } from "../../datasets/batching.ts";
import type { QaExample, QaSpecialIds } from "./examples.ts";

/** One batch on the device. */
export interface QaBatch {
  input: LatentQaInput;
  /** Decoder input ids [B, T] (i32). */
  targetIn: Tensor;
  /** Targets [B, T] (i32), {@linkcode IGNORE_INDEX} on padding. */
  targetOut: Tensor;
  /** Decoder padding [B, T]. */
  targetPadding: Tensor;
  /**
   * Latent kind: [B, C] 1 on supporting tokens; a row whose context kept no supporting token
   * holds its padding mask instead (mass 1, so it adds a constant and no gradient to the loss).
   */
  support: Tensor | null;
  /** Rows whose context kept supporting tokens. */
  supportedRows: number;
  /** [B] 1 on those rows (latent kind only). */
  supportedMask: Tensor | null;
  /** Real source (+ context) tokens. */
  tokens: number;
}

/** Builds the model input only (for evaluation). */
export function collateInput(
  examples: readonly QaExample[],
  kind: LatentQaKind,
  special: QaSpecialIds,
): LatentQaInput {
  const rows = examples.map((e) => kind === "latent" ? e.question : e.source);
  const src = padRows(rows, special.pad);
  const input: LatentQaInput = {
    source: tensor(src.ids, src.shape, "i32"),
    sourcePadding: tensor(src.mask, src.shape),
  };
  if (kind === "latent") {
    const ctx = padRows(examples.map((e) => e.context), special.pad);
    input.context = tensor(ctx.ids, ctx.shape, "i32");
    input.contextPadding = tensor(ctx.mask, ctx.shape);
  }
  return input;
}

/** Builds a training batch (call inside a `tidy` scope). */
export function collateQa(
  examples: readonly QaExample[],
  kind: LatentQaKind,
  special: QaSpecialIds,
): QaBatch {
  const input = collateInput(examples, kind, special);
  const dec = padRows(examples.map((e) => [special.bos, ...e.answerIds]), special.pad);
  const out = padRows(examples.map((e) => [...e.answerIds, special.eos]), IGNORE_INDEX);
  let support: Tensor | null = null, supportedMask: Tensor | null = null, supportedRows = 0;
  if (kind === "latent") {
    const ctx = padRows(examples.map((e) => e.context), special.pad);
    const [b, c] = ctx.shape;
    const mask = new Float32Array(b * c);
    const rows = new Float32Array(b);
    examples.forEach((e, r) => {
      const has = e.support.some((m) => m === 1);
      if (has) supportedRows++;
      rows[r] = has ? 1 : 0;
      const row = has ? e.support : e.context.map(() => 1);
      row.forEach((m, t) => (mask[r * c + t] = m));
    });
    support = tensor(mask, [b, c]);
    supportedMask = tensor(rows, [b]);
  }
  return {
    input,
    targetIn: tensor(dec.ids, dec.shape, "i32"),
    targetOut: tensor(out.ids, out.shape, "i32"),
    targetPadding: tensor(dec.mask, dec.shape),
    support,
    supportedRows,
    supportedMask,
    tokens: examples.reduce(
      (n, e) => n + (kind === "latent" ? e.question.length + e.context.length : e.source.length),
      0,
    ),
  };
}
