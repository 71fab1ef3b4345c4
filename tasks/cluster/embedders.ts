/**
 * Text → vector embedders of `deno task cluster`:
 * - `tfidf`: TF-IDF + randomised SVD (LSA), on the CPU;
 * - `glove`: mean GloVe 6B 100-d vector of the text's words (stop words out; the npm package's
 *   file, or any file in its layout), on the CPU;
 * - `lm`: mean over tokens of the last layer (after the final LayerNorm) of a CLaRa base LM
 *   directory (`train:clara --stage lm`), run on the GPU in length-sorted batches, one readback
 *   per batch. These are the LM's output states, not its input embeddings. It is a raw language
 *   model, not a trained memory compressor: its vectors answer "what does the raw last layer
 *   give", the baseline that a compressor's mean memory must beat.
 * Every embedding is returned L2-normalised (clustering works on cosine geometry); `raw` keeps
 * the un-normalised vectors for the LM's label decoder.
 *
 * @module
 */
import { normalizeRows, type Points } from "../../core/cluster/points.ts";
import { loadWordVectors } from "../../datasets/glove.ts";
import { loadLmModel } from "../clara/model_dir.ts";
import * as device from "../../core/device.ts";
import type { DecoderOnly } from "../../core/nn/stacks.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { Progress } from "../../core/io/progress.ts";
import { tfidf, type TfidfMatrix, tfidfSvd, words } from "./tfidf.ts";

/** The embedder names. */
export const EMBEDDERS = ["tfidf", "glove", "lm"] as const;
/** One embedder name. */
export type EmbedderName = typeof EMBEDDERS[number];

/** What an embedder gives back. */
export interface Embedding {
  /** Unit-length rows, one per text. */
  points: Points;
  /** Texts that had nothing to embed (no known word, no token): their row is zero. */
  empty: number;
  /** With `lm`: the model and tokenizer, for decoding a cluster's mean state into words. */
  lm?: { model: DecoderOnly; tokenizer: TextTokenizer; raw: Points };
  /** A line about what was embedded. */
  note: string;
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
  /** `lm`: texts per GPU batch (default 32). */
  batchSize?: number;
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

async function embedLm(inputs: readonly string[], options: EmbedOptions): Promise<Embedding> {
  if (!options.lmDir) {
    throw new Error("--embedder lm needs --lm DIR (a train:clara --stage lm directory)");
  }
  await device.init();
  const { model, run, tokenizer } = await loadLmModel(options.lmDir);
  model.eval();
  const maxLength = run.model.maxLength;
  const pad = tokenizer.tokenId("[PAD]");
  const ids = inputs.map((t) => tokenizer.encode(t, false).slice(0, maxLength));
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length || a - b);
  const dim = run.model.dim, batch = options.batchSize ?? 32;
  const raw = new Float32Array(inputs.length * dim);
  const progress = new Progress(inputs.length, { label: "embed lm" });
  let empty = 0, truncated = 0;
  for (const t of inputs) if (tokenizer.encode(t, false).length > maxLength) truncated++;
  for (let start = 0; start < order.length; start += batch) {
    const rows = order.slice(start, start + batch);
    const width = Math.max(1, ...rows.map((r) => ids[r].length));
    const flat = new Int32Array(rows.length * width).fill(pad);
    rows.forEach((r, b) => flat.set(ids[r], b * width));
    // Causal attention with right padding: real tokens never attend to the padding after them.
    const hidden = noGrad(() =>
      tidy(() => model.hidden(model.embed(tensor(flat, [rows.length, width], "i32"))))
    );
    const states = await hidden.data();
    hidden.dispose();
    rows.forEach((r, b) => {
      const len = ids[r].length;
      if (len === 0) {
        empty++;
        return;
      }
      for (let t = 0; t < len; t++) {
        const o = (b * width + t) * dim;
        for (let d = 0; d < dim; d++) raw[r * dim + d] += states[o + d] / len;
      }
    });
    if (start + batch < order.length) progress.update(start + batch);
  }
  progress.finish();
  const rawPoints = { n: inputs.length, dim, data: raw };
  return {
    points: normalizeRows(rawPoints),
    empty,
    lm: { model, tokenizer, raw: rawPoints },
    note: `mean last-layer state of ${options.lmDir} (dim ${dim}; ${truncated} texts cut to ` +
      `${maxLength} tokens)`,
  };
}
