/**
 * Stage 3's objective as a {@linkcode TrainingTask}: per batch, the query reasoner scores the
 * examples' candidates against their frozen memories, the straight-through top-k selects k of
 * them (or, as ablations, the soft mixture alone or the hard top k with no gradient), and the
 * generator answers from the selected memories; **the only loss** is the answer's next-token
 * cross-entropy. With the compressor unfrozen the candidates are re-encoded in every step, so the
 * loss reaches the compressor too. The Recall@k of the gold candidates among the k selected is
 * logged beside it (reporting only, it carries no gradient).
 *
 * @module
 */
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { TrainingTask } from "../../core/train/trainer.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { IGNORE_INDEX } from "../../datasets/batching.ts";
import type { ClaraE2E, Selection } from "./e2e_model.ts";
import { batchMemories, type E2EExample, type HostMemories } from "./e2e_data.ts";
import { decoderRows } from "./memory_batch.ts";
import { memoryBatches } from "./memory_training.ts";

/** The loss of a batch and the share of gold candidates its hard selection took. */
export interface E2ELosses {
  /** Answer next-token cross-entropy (the training loss). */
  ce: Tensor;
  /** Mean over rows of |gold ∩ hard top-k| / |gold| (no gradient). */
  recall: Tensor;
  /** The reasoner's scores [B, N]. */
  scores: Tensor;
  /** The selection Z [B, k, N]. */
  z: Tensor;
  /** The memories the generator read, Z · M [B, k · l, D]. */
  memory: Tensor;
}

/** How {@linkcode e2eLosses} selects and where its memories come from. */
export interface E2ELossOptions {
  pad: number;
  k: number;
  tau: number;
  /** Default `ste`. */
  selection?: Selection;
  /** Document budget: with it, memories of null are encoded in the step, with gradient. */
  docTokens?: number;
}

/** The candidates' memories [B, N, l, D] encoded now (with gradient) and their means [B, N, D]. */
function encodedMemories(
  model: ClaraE2E,
  examples: readonly E2EExample[],
  docTokens: number,
): { memories: Tensor; means: Tensor } {
  const n = examples[0].candidates.length;
  if (examples.some((e) => e.candidates.length !== n)) {
    throw new Error("e2eLosses: examples of one batch need the same candidate count");
  }
  const l = model.lm.memoryCount(docTokens);
  const flat = model.lm.compress(examples.flatMap((e) => e.candidates), l);
  const d = flat.shape[2];
  const memories = flat.reshape([examples.length, n, l, d]);
  return { memories, means: ops.mean(memories, 2) };
}

/**
 * The stage-3 loss of `examples` (same candidate count): with their frozen host `memories`, or,
 * when `memories` is null, with memories the compressor encodes in this step (`o.docTokens`).
 */
export function e2eLosses(
  model: ClaraE2E,
  examples: readonly E2EExample[],
  memories: readonly HostMemories[] | null,
  o: E2ELossOptions,
): E2ELosses {
  if (!memories && o.docTokens === undefined) {
    throw new Error("e2eLosses: without host memories, docTokens is needed to encode them");
  }
  const { memories: m, means } = memories
    ? batchMemories(memories)
    : encodedMemories(model, examples, o.docTokens!);
  const [b, n] = means.shape;
  const k = Math.min(o.k, n);
  const scores = model.scores(model.queryEmbeddings(examples.map((e) => e.prompt)), means);
  const { z, memory } = model.select(scores, m, k, o.tau, o.selection ?? "ste");
  const rows = decoderRows(
    examples.map((e) => ({ docs: [], prompt: e.prompt, target: e.target })),
    o.pad,
  );
  const read = model.lm.readTarget(memory, rows.inputs, rows.padding, {
    promptMask: rows.promptMask,
  });
  const ce = model.lm.targetNll(read, rows.labels, IGNORE_INDEX);
  const gold = new Float32Array(b * n);
  const share = new Float32Array(b);
  examples.forEach((e, r) => {
    for (const g of e.gold) gold[r * n + g] = 1;
    share[r] = 1 / (new Set(e.gold).size * b);
  });
  // Recall of the hard top k in every mode (the soft mixture's Z is not one-hot).
  const picked = o.selection === "soft" ? ops.hardTopK(scores, k) : z.detach();
  const hits = ops.sum(ops.matmul(picked, tensor(gold, [b, n, 1])), [1, 2]);
  const recall = ops.sum(ops.mul(hits, tensor(share, [b])));
  return { ce, recall, scores, z, memory };
}

/** What the stage-3 task is built from. */
export interface E2ETrainingOptions {
  model: ClaraE2E;
  optimizer: Optimizer;
  train: readonly E2EExample[];
  /** Frozen host memories of `train`; null: encoded in each step (compressor unfrozen). */
  memories: readonly HostMemories[] | null;
  pad: number;
  k: number;
  tau: number;
  selection: Selection;
  docTokens: number;
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
        o.memories ? indices.map((i) => o.memories![i]) : null,
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
