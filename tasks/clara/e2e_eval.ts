/**
 * What the query reasoner retrieves and what the generator answers from it: per question, the
 * full ranking of its candidates by cos(query, memory) (one readback per batch), Recall@k of the
 * gold candidates, and greedy answers read from the memories of the top k — the same hard
 * selection the training forward uses (`Z · M` with Z one-hot).
 *
 * @module
 */
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import { exactMatch, recallAtK, tokenF1 } from "../../core/metrics/qa.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { ClaraE2E, Selection } from "./e2e_model.ts";
import { batchMemories, type E2EExample, type HostMemories } from "./e2e_data.ts";
import { claraSpecial, decodeAnswer } from "./tokens.ts";
import { decoderRows } from "./memory_batch.ts";
import { IGNORE_INDEX } from "../../datasets/batching.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";

/** The k of the reported Recall@k. */
export const RECALL_KS = [1, 2, 5] as const;

/** Indices of the examples in batches of at most `size` with the same candidate count. */
export function sameCountBatches(memories: readonly HostMemories[], size: number): number[][] {
  const groups = new Map<number, number[]>();
  memories.forEach((m, i) => groups.set(m.n, [...(groups.get(m.n) ?? []), i]));
  const out: number[][] = [];
  for (const g of groups.values()) {
    for (let s = 0; s < g.length; s += size) out.push(g.slice(s, s + size));
  }
  return out;
}

/** Each example's candidates ranked by the reasoner's score, best first. */
export async function reasonerRankings(
  model: ClaraE2E,
  examples: readonly E2EExample[],
  memories: readonly HostMemories[],
  batchSize: number,
): Promise<number[][]> {
  model.eval();
  const out: number[][] = new Array(examples.length);
  for (const rows of sameCountBatches(memories, batchSize)) {
    const s = noGrad(() =>
      tidy(() => {
        const { means } = batchMemories(rows.map((i) => memories[i]));
        return model.scores(model.queryEmbeddings(rows.map((i) => examples[i].prompt)), means);
      })
    );
    const v = await s.data() as Float32Array;
    s.dispose();
    const n = memories[rows[0]].n;
    rows.forEach((ex, r) => {
      const row = v.subarray(r * n, (r + 1) * n);
      out[ex] = Array.from({ length: n }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
    });
  }
  return out;
}

/**
 * Each example's candidates ranked by the generator's likelihood of the example's answer when it
 * reads that candidate's memories alone (lowest mean answer −log p first), at most `rowsPerCall`
 * (question, candidate) rows per forward. It reads the gold answer, so it is no retriever: it is
 * the ranking the answer loss rewards, the one a reasoner trained by that loss alone is pulled to.
 */
export async function likelihoodRankings(
  model: MemoryLM,
  examples: readonly E2EExample[],
  memories: readonly HostMemories[],
  pad: number,
  rowsPerCall: number,
): Promise<number[][]> {
  model.eval();
  const out: number[][] = new Array(examples.length);
  let at = 0;
  while (at < examples.length) {
    const batch = [at];
    let rows = memories[at].n;
    while (
      at + batch.length < examples.length && rows + memories[at + batch.length].n <= rowsPerCall
    ) {
      rows += memories[at + batch.length].n;
      batch.push(at + batch.length);
    }
    at += batch.length;
    const { l, d } = memories[batch[0]];
    const host = new Float32Array(rows * l * d);
    let offset = 0;
    for (const i of batch) {
      host.set(memories[i].memory, offset);
      offset += memories[i].memory.length;
    }
    const nll = noGrad(() =>
      tidy(() => {
        const scored = decoderRows(
          batch.flatMap((i) =>
            Array.from({ length: memories[i].n }, () => ({
              docs: [],
              prompt: examples[i].prompt,
              target: examples[i].target,
            }))
          ),
          pad,
        );
        const read = model.readTarget(tensor(host, [rows, l, d]), scored.inputs, scored.padding, {
          promptMask: scored.promptMask,
        });
        return model.rowTargetNll(read, scored.labels, IGNORE_INDEX);
      })
    );
    const v = await nll.data() as Float32Array;
    nll.dispose();
    let row = 0;
    for (const i of batch) {
      const own = v.subarray(row, row + memories[i].n);
      row += memories[i].n;
      out[i] = Array.from(own.keys()).sort((a, b) => own[a] - own[b] || a - b);
    }
  }
  return out;
}

/**
 * Mean Recall@k of the gold items (candidate indices, or titles) under `rankings`, for each k
 * of {@linkcode RECALL_KS}.
 */
export function meanRecalls<T>(
  rankings: readonly (readonly T[])[],
  gold: readonly (readonly T[])[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of RECALL_KS) {
    out[`recall_at_${k}`] = rankings.reduce((s, r, i) => s + recallAtK(r, gold[i], k), 0) /
      rankings.length;
  }
  return out;
}

/**
 * Greedy answers of the generator, per batch of example indices, from the memory prefix
 * [rows, L, D] that `prefixOf(rows)` builds (disposed here) before each example's prompt.
 */
export async function answersFromPrefixes(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  prompts: readonly (readonly number[])[],
  batches: readonly number[][],
  prefixOf: (rows: readonly number[]) => Tensor,
  maxNewTokens: number,
): Promise<string[]> {
  model.eval();
  const out: string[] = new Array(prompts.length);
  for (const rows of batches) {
    const prefix = prefixOf(rows);
    try {
      const { tokens } = await model.lm.generate(prefix, rows.map((i) => prompts[i]), {
        eos: claraSpecial(tokenizer).sep,
        maxNewTokens,
      });
      rows.forEach((ex, r) => (out[ex] = decodeAnswer(tokenizer, tokens[r])));
    } finally {
      prefix.dispose();
    }
  }
  return out;
}

/**
 * Greedy answers from the memories of each example's first k ranked candidates (in rank order);
 * with `selection: "soft"` from the soft mixture Z_soft · M of the reasoner's own scores instead
 * (`softTopK` at `tau`, what a `--selection soft` generator read in training; `rankings` unused).
 */
export function answersFromRanked(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  examples: readonly E2EExample[],
  memories: readonly HostMemories[],
  rankings: readonly (readonly number[])[],
  o: { k: number; batchSize: number; maxNewTokens: number; selection?: Selection; tau?: number },
): Promise<string[]> {
  const ranked = (rows: readonly number[]): Tensor => {
    const { n, l, d } = memories[rows[0]];
    const k = Math.min(o.k, n);
    const host = new Float32Array(rows.length * k * l * d);
    rows.forEach((ex, r) => {
      rankings[ex].slice(0, k).forEach((c, j) => {
        host.set(memories[ex].memory.subarray(c * l * d, (c + 1) * l * d), (r * k + j) * l * d);
      });
    });
    return tensor(host, [rows.length, k * l, d]);
  };
  const soft = (rows: readonly number[]): Tensor =>
    noGrad(() =>
      tidy(() => {
        const { memories: m, means } = batchMemories(rows.map((i) => memories[i]));
        const queries = model.queryEmbeddings(rows.map((i) => examples[i].prompt));
        const k = Math.min(o.k, memories[rows[0]].n);
        return model.select(model.scores(queries, means), m, k, o.tau ?? 1, "soft").memory;
      })
    );
  if (o.selection === "soft" && o.tau === undefined) {
    throw new Error("answersFromRanked: the soft selection needs its tau");
  }
  model.eval();
  return answersFromPrefixes(
    model,
    tokenizer,
    examples.map((e) => e.prompt),
    sameCountBatches(memories, o.batchSize),
    o.selection === "soft" ? soft : ranked,
    o.maxNewTokens,
  );
}

/** Mean SQuAD EM and F1 of predictions against the examples' answers. */
export function meanQa(
  examples: readonly E2EExample[],
  predictions: readonly string[],
): { em: number; f1: number } {
  const n = examples.length;
  return {
    em: examples.reduce((s, e, i) => s + exactMatch(predictions[i], e.answer), 0) / n,
    f1: examples.reduce((s, e, i) => s + tokenF1(predictions[i], e.answer), 0) / n,
  };
}
