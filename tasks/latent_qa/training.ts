/**
 * train:latent-qa as a {@linkcode TrainingTask}: length-bucketed batches per epoch, the answer
 * cross-entropy (+ the support-attention loss for the latent kind), the parameter groups' learning
 * rates set before each step (the encoder and decoder groups held at 0 for the first `freezeSteps`
 * steps, so only the latent modules, selector and gate, move), optional mixed precision, and
 * validation by EM/F1.
 *
 * @module
 */
import type { LatentQaModel } from "../../core/models/latent_qa.ts";
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { StepContext, TrainingTask } from "../../core/train/trainer.ts";
import type { Tensor } from "../../core/tensor.ts";
import { autocast } from "../../core/amp.ts";
import { bucketByLength } from "../../datasets/batching.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { collateQa } from "./batch.ts";
import type { QaExample, QaSpecialIds } from "./examples.ts";
import { evaluateQa } from "./evaluate.ts";
import { BASELINE_LOSS_TERMS, LATENT_LOSS_TERMS, latentQaLosses } from "./objective.ts";

/** Order of the optimizer's parameter groups. */
export const GROUP_NAMES = ["latent", "gate", "encoder", "decoder"] as const;

/** Base learning rates of the groups. */
export interface GroupRates {
  latent: number;
  gate: number;
  encoder: number;
  decoder: number;
}

/** What the task is built from. */
export interface LatentQaTrainingOptions {
  model: LatentQaModel;
  /** Its groups in {@linkcode GROUP_NAMES} order (an empty group is left out: see `groupIndex`). */
  optimizer: Optimizer;
  /** Optimizer group index of each group name present. */
  groupIndex: Partial<Record<(typeof GROUP_NAMES)[number], number>>;
  rates: GroupRates;
  /** Steps during which only the latent group learns. */
  freezeSteps: number;
  tokenizer: TextTokenizer;
  special: QaSpecialIds;
  train: QaExample[];
  val: QaExample[];
  batchSize: number;
  seed: number;
  auxWeight: number;
  maxAnswer: number;
  mixedPrecision: boolean;
  /** Writes the best model (the trainer passes the directory). */
  saveBest(dir: string): Promise<void>;
}

/** Learning rate of each group at `step` (before the schedule's multiplier). */
export function groupRates(rates: GroupRates, freezeSteps: number, step: number): GroupRates {
  const frozen = step < freezeSteps;
  return {
    latent: rates.latent,
    gate: rates.gate,
    encoder: frozen ? 0 : rates.encoder,
    decoder: frozen ? 0 : rates.decoder,
  };
}

/** The latent-QA objective, batches and evaluator as a trainer task; batches are example indices. */
export function latentQaTrainingTask(o: LatentQaTrainingOptions): TrainingTask<number[]> {
  const kind = o.model.config.kind;
  const lengths = o.train.map((e) => kind === "latent" ? e.context.length : e.source.length);
  let order: { epoch: number; batches: number[][] } | null = null;
  const present = GROUP_NAMES.filter((g) => o.groupIndex[g] !== undefined);
  return {
    model: o.model,
    optimizer: o.optimizer,
    lossTerms: kind === "latent" ? LATENT_LOSS_TERMS : BASELINE_LOSS_TERMS,
    metrics: kind === "latent" ? ["f1", "em", "support_mass", "gate"] : ["f1", "em"],
    logColumns: present.map((g) => `lr_${g}`),
    batches(epoch: number): number[][] {
      if (order?.epoch !== epoch) {
        const batches = bucketByLength(lengths, o.batchSize, { seed: o.seed * 1000 + epoch });
        order = { epoch, batches };
      }
      return order.batches;
    },
    beforeStep(ctx: StepContext): void {
      const r = groupRates(o.rates, o.freezeSteps, ctx.step);
      for (const g of present) o.optimizer.setLr(r[g], o.groupIndex[g]);
    },
    logValues(): Record<string, number> {
      return Object.fromEntries(
        present.map((g) => [`lr_${g}`, o.optimizer.currentLr(o.groupIndex[g])]),
      );
    },
    loss(indices: number[]): Tensor[] {
      const build = () =>
        latentQaLosses(
          o.model,
          collateQa(indices.map((i) => o.train[i]), kind, o.special),
          o.auxWeight,
        );
      return o.mixedPrecision ? autocast(build) : build();
    },
    tokens: (indices: number[]) =>
      indices.reduce((n, i) => n + lengths[i] + o.train[i].question.length, 0),
    async evaluate(): Promise<Record<string, number>> {
      const r = await evaluateQa(o.model, o.tokenizer, o.special, o.val, {
        batchSize: o.batchSize,
        maxAnswer: o.maxAnswer,
      });
      o.model.train();
      const out: Record<string, number> = { f1: r.f1, em: r.em };
      if (kind === "latent") Object.assign(out, { support_mass: r.support_mass, gate: r.gate });
      return out;
    },
    saveBest: o.saveBest,
  };
}
