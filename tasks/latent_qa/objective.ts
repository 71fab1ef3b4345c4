/**
 * The latent-QA objective: answer cross-entropy plus `auxWeight · L_aux`, where L_aux is
 * `supportAttentionLoss` on the selector's last-layer attention averaged over its heads, i.e.
 * the mean over latents (and over the rows whose context kept a supporting token) of
 * −log(head-averaged attention mass on supporting tokens). A copy model's answer term is the
 * pointer-generator mixture's −log p(target) instead of the vocabulary cross-entropy (logged as
 * `loss_ce` all the same).
 *
 * @module
 */
import type { LatentQaModel } from "../../core/models/latent_qa.ts";
import { sequenceCrossEntropy, supportAttentionLoss } from "../../core/nn/losses.ts";
import { copyMixtureNll } from "../../core/nn/pointer.ts";
import type { Tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import type { QaBatch } from "./batch.ts";

/** Loss terms of the latent kind, the total first (what the trainer logs per step). */
export const LATENT_LOSS_TERMS = ["loss", "loss_ce", "loss_aux", "support_mass", "gate"];
/** Loss terms of the baseline. */
export const BASELINE_LOSS_TERMS = ["loss"];

/** The terms of {@linkcode LATENT_LOSS_TERMS} (baseline: the cross-entropy alone). */
export function latentQaLosses(model: LatentQaModel, batch: QaBatch, auxWeight: number): Tensor[] {
  const { logits, attn, copy } = model.forward(batch.input, batch.targetIn, batch.targetPadding);
  const ce = copy
    ? copyMixtureNll(logits, copy.pGen, copy.source, batch.targetOut)
    : sequenceCrossEntropy(logits, batch.targetOut);
  if (!attn || !batch.support || !model.gate) return [ce];
  const mass = supportMass(attn, batch.support, batch.supportedMask!);
  const gate = ops.tanh(model.gate.gate).reshape([]);
  if (batch.supportedRows === 0) return [ce, ops.mul(ce, 0), ops.mul(ce, 0), mass, gate];
  // Rows without support add exactly 0 to the mean; rescale so it is over supported rows only.
  const rows = attn.shape[0];
  const aux = ops.mul(supportAttentionLoss(attn, batch.support), rows / batch.supportedRows);
  const total = auxWeight === 0 ? ce : ops.add(ce, ops.mul(aux, auxWeight));
  return [total, ce, aux, mass, gate];
}

/**
 * Mean attention mass on supporting tokens of attn [B, L, C] over latents and the rows where
 * `rows` [B] is 1 (the rows whose context kept a supporting token). A scalar.
 */
export function supportMass(attn: Tensor, support: Tensor, rows: Tensor): Tensor {
  const b = attn.shape[0];
  const perRow = ops.sum(ops.mul(ops.mean(attn, 1), support), -1).reshape([b]);
  return ops.div(ops.sum(ops.mul(perRow, rows)), ops.add(ops.sum(rows), 1e-9));
}
