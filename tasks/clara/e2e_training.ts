/**
 * Stage 3's objective as a {@linkcode TrainingTask}: per batch, the query reasoner scores the
 * examples' candidates against their frozen memories, the straight-through top-k selects k of
 * them, and the generator answers from the selected memories; **the only loss** is the answer's
 * next-token cross-entropy. The Recall@k of the gold candidates among the k selected is logged
 * beside it (reporting only, it carries no gradient).
 *
 * @module
 */
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { TrainingTask } from "../../core/train/trainer.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { IGNORE_INDEX } from "../../datasets/batching.ts";
import type { ClaraE2E } from "./e2e_model.ts";
import { batchMemories, type E2EExample, type HostMemories } from "./e2e_data.ts";
import { decoderRows } from "./memory_batch.ts";
import { memoryBatches } from "./memory_training.ts";

/** The loss of a batch and the share of gold candidates its hard selection took. */
export interface E2ELosses {
  /** Answer next-token cross-entropy (the training loss). */
  ce: Tensor;
  /** Mean over rows of |gold ∩ top-k| / |gold| (no gradient). */
  recall: Tensor;
  /** The selection Z [B, k, N]. */
  z: Tensor;
}

/** The stage-3 loss of `examples` (same candidate count) with their frozen host memories. */
export function e2eLosses(
  model: ClaraE2E,
  examples: readonly E2EExample[],
  memories: readonly HostMemories[],
  o: { pad: number; k: number; tau: number },
): E2ELosses {
  const { memories: m, means } = batchMemories(memories);
  const [b, n] = means.shape;
  const k = Math.min(o.k, n);
  const scores = model.scores(model.queryEmbeddings(examples.map((e) => e.prompt)), means);
  const { z, memory } = model.select(scores, m, k, o.tau);
  const rows = decoderRows(
    examples.map((e) => ({ docs: [], prompt: e.prompt, target: e.target })),
    o.pad,
  );
  const logits = model.lm.generateLogits(memory, rows.inputs, rows.padding);
  const ce = ops.crossEntropy(logits, rows.labels, { ignoreIndex: IGNORE_INDEX });
  const gold = new Float32Array(b * n);
  const share = new Float32Array(b);
  examples.forEach((e, r) => {
    for (const g of e.gold) gold[r * n + g] = 1;
    share[r] = 1 / (new Set(e.gold).size * b);
  });
  const hits = ops.sum(ops.matmul(z.detach(), tensor(gold, [b, n, 1])), [1, 2]);
  const recall = ops.sum(ops.mul(hits, tensor(share, [b])));
  return { ce, recall, z };
}

/** What the stage-3 task is built from. */
export interface E2ETrainingOptions {
  model: ClaraE2E;
  optimizer: Optimizer;
  train: readonly E2EExample[];
  memories: readonly HostMemories[];
  pad: number;
  k: number;
  tau: number;
  batchSize: number;
  seed: number;
  metrics: string[];
  evaluate(): Promise<Record<string, number>>;
  saveBest(dir: string): Promise<void>;
}

/** The stage-3 objective as a trainer task; batches are example indices. */
export function e2eTrainingTask(o: E2ETrainingOptions): TrainingTask<number[]> {
  const shapes = o.train.map((e) => ({ docs: e.candidates, prompt: e.prompt, target: e.target }));
  const orders = new Map<number, number[][]>();
  return {
    model: o.model,
    optimizer: o.optimizer,
    lossTerms: ["loss", `recall_at_${o.k}`],
    metrics: o.metrics,
    batches(epoch: number): number[][] {
      let order = orders.get(epoch);
      if (!order) {
        order = memoryBatches(shapes, o.batchSize, o.seed * 1000 + epoch);
        orders.clear();
        orders.set(epoch, order);
      }
      return order;
    },
    loss(indices: number[]): Tensor[] {
      const l = e2eLosses(
        o.model,
        indices.map((i) => o.train[i]),
        indices.map((i) => o.memories[i]),
        o,
      );
      return [l.ce, l.recall];
    },
    tokens: (indices: number[]) =>
      indices.reduce((n, i) => n + o.train[i].prompt.length + o.train[i].target.length, 0),
    evaluate: o.evaluate,
    saveBest: o.saveBest,
  };
}
