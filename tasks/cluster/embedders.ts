/**
 * Text → vector embedders of `deno task cluster`:
 * - `tfidf`: TF-IDF + randomised SVD (LSA), on the CPU;
 * - `glove`: mean GloVe 6B 100-d vector of the text's words (stop words out; the npm package's
 *   file, or any file in its layout), on the CPU;
 * - `lm`: the mean last-layer state of a CLaRa base LM (lm_embedder.ts), on the GPU;
 * - `absa`: the mean memory of a trained Fast CLaRa ABSA encoder (absa_embedder.ts), on the GPU;
 * - `clara`: the mean memory of a trained CLaRa compressor (clara_embedder.ts), on the GPU.
 * Every embedding is returned L2-normalised (clustering works on cosine geometry). The GPU
 * embedders also bring a decoder that turns a group's mean state back into words (labels).
 *
 * @module
 */
import { normalizeRows, type Points } from "../../core/cluster/points.ts";
import { loadWordVectors } from "../../datasets/glove.ts";
import { embedLm } from "./lm_embedder.ts";
import { embedAbsaMemory } from "./absa_embedder.ts";
import { embedClaraMemory } from "./clara_embedder.ts";
import type { BatchLimits } from "./length_batches.ts";
import { tfidf, type TfidfMatrix, tfidfSvd, words } from "./tfidf.ts";

/** The embedder names. */
export const EMBEDDERS = ["tfidf", "glove", "lm", "absa", "clara"] as const;
/** One embedder name. */
export type EmbedderName = typeof EMBEDDERS[number];

/** What an embedder gives back. */
export interface Embedding {
  /** Unit-length rows, one per text. */
  points: Points;
  /** Texts that had nothing to embed (no known word, no token): their row is zero. */
  empty: number;
  /** With `lm`, `absa` and `clara`: names groups of texts from their mean state (see GroupDecoder). */
  decoder?: GroupDecoder;
  /** A line about what was embedded. */
  note: string;
}

/** Turns the mean state of each group of texts back into text, on the embedder's own model. */
export interface GroupDecoder {
  /** What the decoded text is (for the report), e.g. "LM head words". */
  kind: string;
  /** One text per group of text indices. */
  decode(groups: readonly (readonly number[])[]): Promise<string[]>;
  /** Frees the model. */
  dispose(): void;
}

/** Options of {@linkcode embedTexts}. */
export interface EmbedOptions {
  /** SVD rank of `tfidf` (default 100). */
  svdDim?: number;
  /** The TF-IDF matrix of the texts, when the caller already built it. */
  tfidfMatrix?: TfidfMatrix;
  /** `glove`: the word-vector JSON (default: the npm package's file). */
  gloveSource?: string;
  /** `glove`: cache of the rows of this vocabulary (safetensors). */
  gloveCache?: string;
  /** `lm`: the base-LM directory. */
  lmDir?: string;
  /** `absa`: a Fast CLaRa ABSA model directory (train:absa's `best/`). */
  absaDir?: string;
  /** `clara`: a CLaRa memory-model directory (train:clara --stage pretrain's `best/`). */
  claraDir?: string;
  /** `lm`, `absa`, `clara`: rows and padded tokens per GPU batch (see length_batches.ts). */
  batchLimits?: Partial<BatchLimits>;
  seed?: number;
}

/** Embeds `inputs` with `name`. */
export async function embedTexts(
  name: EmbedderName,
  inputs: readonly string[],
  options: EmbedOptions = {},
): Promise<Embedding> {
  if (name === "tfidf") {
    const m = options.tfidfMatrix ?? tfidf(inputs);
    const points = tfidfSvd(m, options.svdDim ?? 100, options.seed ?? 0);
    const empty = m.rows.filter((r) => r.terms.length === 0).length;
    return {
      points: normalizeRows(points),
      empty,
      note: `TF-IDF over ${m.vocabulary.length} terms, SVD rank ${points.dim}`,
    };
  }
  if (name === "glove") return await embedGlove(inputs, options);
  if (name === "absa") return await embedAbsaMemory(inputs, options);
  if (name === "clara") return await embedClaraMemory(inputs, options);
  return await embedLm(inputs, options);
}

async function embedGlove(inputs: readonly string[], options: EmbedOptions): Promise<Embedding> {
  const tokenized = inputs.map(words);
  const vocab = [...new Set(tokenized.flat())].sort();
  const wv = await loadWordVectors(vocab, {
    source: options.gloveSource,
    cachePath: options.gloveCache,
  });
  const id = new Map(vocab.map((w, i) => [w, i]));
  const data = new Float32Array(inputs.length * wv.dim);
  let empty = 0;
  tokenized.forEach((ws, i) => {
    let count = 0;
    for (const w of ws) {
      const r = id.get(w)!;
      if (!wv.found[r]) continue;
      count++;
      for (let d = 0; d < wv.dim; d++) data[i * wv.dim + d] += wv.matrix[r * wv.dim + d];
    }
    if (count === 0) empty++;
  });
  const points = normalizeRows({ n: inputs.length, dim: wv.dim, data });
  return {
    points,
    empty,
    note: `mean GloVe ${wv.dim}-d; ${wv.hits}/${vocab.length} distinct words found`,
  };
}
