/**
 * CLaRa's two memory stages as one {@linkcode TrainingTask}: batches of "documents → memories →
 * target" examples with the same number of documents, shuffled per epoch by seed; the loss
 * `L = L_CE + λ·L_MSE` (stage 1, SCP: λ > 0, compressor trained) or `L_CE` alone (stage 2,
 * instruction tuning: the compressor frozen, its memories computed without gradient, unless it
 * is unfrozen). The stage gives its own evaluation.
 *
 * @module
 */
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { TrainingTask } from "../../core/train/trainer.ts";
import type { Tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { seededShuffle } from "../../datasets/batching.ts";
import { type DocumentReader, type MemoryExample, memoryLosses } from "./memory_batch.ts";

/** What a memory stage's task is built from. */
export interface MemoryTrainingOptions {
  model: MemoryLM;
  optimizer: Optimizer;
  train: readonly MemoryExample[];
  /** Padding id of the decoder rows. */
  pad: number;
  batchSize: number;
  seed: number;
  /** λ of L_MSE (0: no alignment term, as in stage 2). */
  mseWeight: number;
  /** Compute memories without gradient (the compressor is frozen). */
  frozenCompressor: boolean;
  /** What the generator reads: the documents' memories (default) or their tokens. */
  reader?: DocumentReader;
  /** Names of the metrics {@linkcode evaluate} returns. */
  metrics: string[];
  /** The stage's held-out evaluation. */
  evaluate(): Promise<Record<string, number>>;
  /** Writes the best model. */
  saveBest(dir: string): Promise<void>;
}

/**
 * Example indices in batches of at most `batchSize`, each batch holding examples with the same
 * number of documents; the order is a function of `seed` alone.
 */
export function memoryBatches(
  examples: readonly MemoryExample[],
  batchSize: number,
  seed: number,
): number[][] {
  const groups = new Map<number, number[]>();
  seededShuffle(examples.map((_, i) => i), seed).forEach((i) => {
    const k = examples[i].docs.length;
    groups.set(k, [...(groups.get(k) ?? []), i]);
  });
  const batches: number[][] = [];
  for (const k of [...groups.keys()].sort((a, b) => a - b)) {
    const g = groups.get(k)!;
    for (let s = 0; s < g.length; s += batchSize) batches.push(g.slice(s, s + batchSize));
  }
  return seededShuffle(batches, seed + 1);
}

/** The memory objective as a trainer task; batches are example indices. */
export function memoryTrainingTask(o: MemoryTrainingOptions): TrainingTask<number[]> {
  const orders = new Map<number, number[][]>();
  return {
    model: o.model,
    optimizer: o.optimizer,
    lossTerms: ["loss", "loss_ce", "loss_mse"],
    metrics: o.metrics,
    batches(epoch: number): number[][] {
      let order = orders.get(epoch);
      if (!order) {
        order = memoryBatches(o.train, o.batchSize, o.seed * 1000 + epoch);
        orders.clear();
        orders.set(epoch, order);
      }
      return order;
    },
    loss(indices: number[]): Tensor[] {
      const l = memoryLosses(o.model, indices.map((i) => o.train[i]), o.pad, {
        alignment: o.mseWeight > 0,
        frozen: o.frozenCompressor,
        reader: o.reader,
      });
      const mse = l.mse ?? ops.mul(l.ce.detach(), 0);
      const total = o.mseWeight > 0 ? ops.add(l.ce, ops.mul(mse, o.mseWeight)) : l.ce;
      return [total, l.ce, mse];
    },
    tokens: (indices: number[]) =>
      indices.reduce((n, i) => {
        const e = o.train[i];
        return n + e.docs.reduce((s, d) => s + d.length, 0) + e.prompt.length + e.target.length;
      }, 0),
    evaluate: o.evaluate,
    saveBest: o.saveBest,
  };
}
