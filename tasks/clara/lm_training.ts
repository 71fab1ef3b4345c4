/**
 * Pretraining CLaRa's base causal LM as a {@linkcode TrainingTask}: shuffled batches of packed
 * windows, next-token cross-entropy, and held-out perplexity and copy probe after each epoch.
 *
 * @module
 */
import type { DecoderOnly } from "../../core/nn/stacks.ts";
import type { Optimizer } from "../../core/optim/optimizer.ts";
import type { TrainingTask } from "../../core/train/trainer.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import * as ops from "../../core/ops/mod.ts";
import { seededShuffle } from "../../datasets/batching.ts";
import { repeatHalves, repeatTargetHalves, type TokenWindows, windowBatch } from "./lm_data.ts";

/** What the LM task is built from. */
export interface LmTrainingOptions {
  model: DecoderOnly;
  optimizer: Optimizer;
  train: TokenWindows;
  heldOut: TokenWindows;
  batchSize: number;
  seed: number;
  /** Writes the best model (the trainer passes the directory). */
  saveBest(dir: string): Promise<void>;
}

/** Mean next-token loss of `model` on `windows` (in nats, and its perplexity); one readback. */
export async function heldOutPerplexity(
  model: DecoderOnly,
  windows: TokenWindows,
  batchSize: number,
): Promise<{ nll: number; perplexity: number }> {
  if (windows.count === 0) throw new Error("heldOutPerplexity: no held-out windows");
  model.eval();
  const total = noGrad(() =>
    tidy(() => {
      let sum: Tensor | null = null;
      for (const rows of rowBatches(windows.count, batchSize)) {
        const part = windowLoss(model, windows, rows, "sum");
        sum = sum ? ops.add(sum, part) : part;
      }
      return sum!;
    })
  );
  const [value] = await total.data();
  total.dispose();
  const nll = value / (windows.count * windows.length);
  return { nll, perplexity: Math.exp(nll) };
}

/**
 * The copy probe on held-out windows whose second half repeats the first: mean NLL of the
 * first half's targets (`fresh_nll`) and of the repeated half's (`copy_nll`). A model that looks
 * its context up scores far lower on the repeat; one that does not scores the same on both.
 */
export async function copyProbe(
  model: DecoderOnly,
  windows: TokenWindows,
  batchSize: number,
): Promise<{ fresh_nll: number; copy_nll: number }> {
  if (windows.count === 0) throw new Error("copyProbe: no held-out windows");
  model.eval();
  const repeated = repeatHalves(windows);
  const halves = repeatTargetHalves(windows.length);
  // Per target position: 1 where it belongs to the half, 0 elsewhere.
  const maskOf = (positions: number[]) => {
    const mask = new Float32Array(windows.length);
    for (const t of positions) mask[t] = 1;
    return mask;
  };
  const sums = noGrad(() =>
    tidy(() => {
      const masks = tensor([...maskOf(halves.fresh), ...maskOf(halves.copy)], [
        2,
        1,
        windows.length,
      ]);
      let total: Tensor | null = null;
      for (const rows of rowBatches(repeated.count, batchSize)) {
        const { inputs, targets } = windowBatch(repeated, rows);
        const shape = [rows.length, windows.length];
        const logits = model.forward(tensor(inputs, shape, "i32"));
        const nll = ops.crossEntropy(logits, tensor(targets, shape, "i32"), { reduction: "none" });
        // [2, B, T] → the two halves' sums.
        const part = ops.sum(ops.mul(masks, nll), [1, 2]);
        total = total ? ops.add(total, part) : part;
      }
      return total!;
    })
  );
  const [fresh, copy] = await sums.data();
  sums.dispose();
  return {
    fresh_nll: fresh / (repeated.count * halves.fresh.length),
    copy_nll: copy / (repeated.count * halves.copy.length),
  };
}

/** Rows 0 … count − 1 in consecutive batches of at most `batchSize`. */
function* rowBatches(count: number, batchSize: number): Generator<number[]> {
  for (let start = 0; start < count; start += batchSize) {
    yield Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i);
  }
}

function windowLoss(
  model: DecoderOnly,
  windows: TokenWindows,
  rows: number[],
  reduction: "mean" | "sum",
): Tensor {
  const { inputs, targets } = windowBatch(windows, rows);
  const shape = [rows.length, windows.length];
  const logits = model.forward(tensor(inputs, shape, "i32"));
  return ops.crossEntropy(logits, tensor(targets, shape, "i32"), { reduction });
}

/** The LM objective, batches and held-out evaluation as a trainer task. */
export function lmTrainingTask(o: LmTrainingOptions): TrainingTask<number[]> {
  const all = Array.from({ length: o.train.count }, (_, i) => i);
  const orders = new Map<number, number[][]>();
  return {
    model: o.model,
    optimizer: o.optimizer,
    lossTerms: ["loss"],
    metrics: ["perplexity", "nll", "fresh_nll", "copy_nll"],
    batches(epoch: number): number[][] {
      let order = orders.get(epoch);
      if (!order) {
        const shuffled = seededShuffle(all, o.seed * 1000 + epoch);
        order = Array.from(
          { length: Math.ceil(shuffled.length / o.batchSize) },
          (_, b) => shuffled.slice(b * o.batchSize, (b + 1) * o.batchSize),
        );
        orders.clear();
        orders.set(epoch, order);
      }
      return order;
    },
    loss: (rows: number[]): Tensor[] => [windowLoss(o.model, o.train, rows, "mean")],
    tokens: (rows: number[]) => rows.length * o.train.length,
    evaluate: async () => ({
      ...(await heldOutPerplexity(o.model, o.heldOut, o.batchSize)),
      ...(await copyProbe(o.model, o.heldOut, o.batchSize)),
    }),
    saveBest: o.saveBest,
  };
}
