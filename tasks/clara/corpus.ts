/**
 * Retrieval over a whole compressed corpus (`--corpus INDEX`, the output of `index:clara`):
 * the index's memories and row list read back with their checks, each document's mean memory
 * as its retrieval vector, the query reasoner's top k by cosine over all of them on the GPU
 * ({@linkcode CosineIndex}: one matmul + top-k per batch of questions), and the generator's
 * answers from the retrieved documents' own memories.
 *
 * @module
 */
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { readSafetensorsHost } from "../../core/io/safetensors.ts";
import type { CosineIndex } from "../../core/retrieval/cosine_index.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { ClaraE2E } from "./e2e_model.ts";
import { answersFromPrefixes } from "./e2e_eval.ts";
import { jsonObjectLines } from "./stage_records.ts";

/** The format tag index:clara writes into the safetensors metadata. */
export const INDEX_FORMAT = "fast-clara-index/1";

/** A compressed corpus in memory. */
export interface CorpusIndex {
  /** The index path prefix (`INDEX` of `INDEX.safetensors` / `INDEX.jsonl`). */
  path: string;
  n: number;
  lMax: number;
  dim: number;
  /** [n, lMax, dim]: document i's `lengths[i]` vectors first, zeros after. */
  memories: Float32Array;
  lengths: Int32Array;
  /** Per row: the document's id and title. */
  rows: { id: string; title: string }[];
  /** [n, dim]: the mean of each document's own memory vectors (what a query is scored against). */
  means: Float32Array;
  /** The docs file index:clara read (from the metadata), for BM25 over the same corpus. */
  docsFile?: string;
  /** The checkpoint whose compressor wrote the memories (from the metadata). */
  checkpoint?: string;
}

/** `INDEX` from `INDEX`, `INDEX.safetensors` or `INDEX.jsonl`. */
export function indexPrefix(index: string): string {
  return index.replace(/\.(safetensors|jsonl)$/, "");
}

/** Reads `INDEX.safetensors` and `INDEX.jsonl`; errors name the file and what was expected. */
export async function readCorpusIndex(index: string): Promise<CorpusIndex> {
  const path = indexPrefix(index);
  const file = `${path}.safetensors`, list = `${path}.jsonl`;
  const read = async (f: string) => {
    try {
      return await Deno.readFile(f);
    } catch (e) {
      throw new Error(
        `${f}: cannot read the corpus index (${(e as Error).message}); ` +
          "write one with deno task index:clara",
      );
    }
  };
  const host = readSafetensorsHost(await read(file), file);
  if (host.metadata.format !== INDEX_FORMAT) {
    throw new Error(
      `${file}: expected metadata format "${INDEX_FORMAT}", got "${host.metadata.format}"`,
    );
  }
  const m = host.tensors.memories, len = host.tensors.lengths;
  if (!m || m.dtype !== "F32" || m.shape.length !== 3) {
    throw new Error(`${file}: expected an F32 tensor "memories" [N, l_max, D]`);
  }
  const [n, lMax, dim] = m.shape;
  if (!len || len.dtype !== "I32" || len.shape.join() !== `${n}`) {
    throw new Error(`${file}: expected an I32 tensor "lengths" [${n}]`);
  }
  const memories = new Float32Array(m.data.slice().buffer);
  const lengths = new Int32Array(len.data.slice().buffer);
  lengths.forEach((l, i) => {
    if (l < 1 || l > lMax) throw new Error(`${file}: lengths[${i}] = ${l} is not in 1…${lMax}`);
  });
  const lines = jsonObjectLines(list, new TextDecoder().decode(await read(list)));
  if (lines.length !== n) throw new Error(`${list}: ${lines.length} rows for ${n} memories`);
  const rows = lines.map(({ line, value: r }, i) => {
    if (r.row !== i || typeof r.id !== "string" || typeof r.title !== "string") {
      throw new Error(`${list}: line ${line}: expected {"row": ${i}, "id": "…", "title": "…"}`);
    }
    return { id: r.id, title: r.title };
  });
  const means = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < lengths[i]; j++) {
      for (let c = 0; c < dim; c++) {
        means[i * dim + c] += memories[(i * lMax + j) * dim + c] / lengths[i];
      }
    }
  }
  const { docs: docsFile, checkpoint } = host.metadata;
  return { path, n, lMax, dim, memories, lengths, rows, means, docsFile, checkpoint };
}

/**
 * The `k` best corpus rows for each prompt (question ⊕ `[SEP]`), best first: the reasoner's mean
 * query embedding against every document's mean memory by cosine, as in training.
 */
export async function corpusRankings(
  model: ClaraE2E,
  search: CosineIndex,
  prompts: readonly (readonly number[])[],
  k: number,
  batchSize: number,
): Promise<number[][]> {
  if (search.dim !== model.lm.config.dim) {
    throw new Error(
      `the corpus index holds ${search.dim}-wide memories, the model ${model.lm.config.dim}`,
    );
  }
  model.eval();
  const out: number[][] = [];
  for (let s = 0; s < prompts.length; s += batchSize) {
    const batch = prompts.slice(s, s + batchSize);
    const q = noGrad(() => tidy(() => ops.mean(model.queryEmbeddings(batch), 1)));
    const host = await q.data() as Float32Array;
    q.dispose();
    const { indices } = await search.search(host, k);
    for (let r = 0; r < batch.length; r++) {
      out.push(Array.from(indices.subarray(r * k, (r + 1) * k)));
    }
  }
  return out;
}

/**
 * The generator's prefix [B, L, D] (row-major) for `picked[b]`, the corpus rows each question
 * reads: their own l vectors each, in the given order; every row must give the same L.
 */
export function corpusPrefix(
  index: CorpusIndex,
  picked: readonly (readonly number[])[],
): Float32Array {
  const { lMax, dim, lengths, memories } = index;
  const widths = picked.map((p) => p.reduce((s, row) => s + lengths[row], 0));
  if (widths.some((w) => w !== widths[0])) {
    throw new Error(`corpusPrefix: rows of one batch need the same memory count, got ${widths}`);
  }
  const out = new Float32Array(picked.length * widths[0] * dim);
  let at = 0;
  for (const rows of picked) {
    for (const row of rows) {
      const size = lengths[row] * dim;
      out.set(memories.subarray(row * lMax * dim, row * lMax * dim + size), at);
      at += size;
    }
  }
  return out;
}

/**
 * Greedy answers from the memories of each prompt's first k ranked corpus rows (each document its
 * own l vectors, in rank order); prompts whose prefixes have the same length share a batch.
 */
export function corpusAnswers(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  index: CorpusIndex,
  prompts: readonly (readonly number[])[],
  rankings: readonly (readonly number[])[],
  o: { k: number; batchSize: number; maxNewTokens: number },
): Promise<string[]> {
  const { dim, lengths } = index;
  const picked = rankings.map((r) => r.slice(0, o.k));
  const width = picked.map((p) => p.reduce((s, row) => s + lengths[row], 0));
  const groups = new Map<number, number[]>();
  width.forEach((w, i) => groups.set(w, [...(groups.get(w) ?? []), i]));
  const batches: number[][] = [];
  for (const g of groups.values()) {
    for (let s = 0; s < g.length; s += o.batchSize) batches.push(g.slice(s, s + o.batchSize));
  }
  const prefixOf = (rows: readonly number[]): Tensor =>
    tensor(corpusPrefix(index, rows.map((ex) => picked[ex])), [rows.length, width[rows[0]], dim]);
  return answersFromPrefixes(model, tokenizer, prompts, batches, prefixOf, o.maxNewTokens);
}
