/**
 * Host-side batching: seeded shuffles, length bucketing, padding masks, and collation of
 * encoder input + memory tokens with decoder prompts and targets. Outputs are flat typed arrays
 * with their shapes, ready to upload as tensors.
 *
 * @module
 */
import { Rng } from "../core/random.ts";

/** Label value that the loss ignores (padding and prompt positions). */
export const IGNORE_INDEX: number = -100;

/**
 * A copy of `items` in a random order fixed by `seed` (Fisher–Yates over mulberry32); given an
 * {@linkcode Rng}, draws from it, so the caller can go on drawing from the same stream.
 */
export function seededShuffle<T>(items: readonly T[], seed: number | Rng): T[] {
  const out = [...items];
  const rng = typeof seed === "number" ? new Rng(seed) : seed;
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Options for {@linkcode bucketByLength}. */
export interface BucketOptions {
  /** Seeds both shuffles (of indices, then of batches); same seed, same batches. */
  seed: number;
  /** Batches per pool that is sorted by length before cutting (default 50). */
  poolBatches?: number;
}

/**
 * Index batches where rows of similar length travel together: indices are shuffled, cut into
 * pools of `poolBatches × batchSize`, each pool is sorted by length and cut into batches, and the
 * batch order is shuffled again. Every index appears exactly once; the last batch may be short.
 */
export function bucketByLength(
  lengths: readonly number[],
  batchSize: number,
  options: BucketOptions,
): number[][] {
  if (!(batchSize >= 1)) throw new Error(`batchSize must be ≥ 1, got ${batchSize}`);
  const poolSize = batchSize * (options.poolBatches ?? 50);
  const order = seededShuffle(lengths.map((_, i) => i), options.seed);
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += poolSize) {
    const pool = order.slice(start, start + poolSize).sort((a, b) => lengths[a] - lengths[b]);
    for (let b = 0; b < pool.length; b += batchSize) batches.push(pool.slice(b, b + batchSize));
  }
  return seededShuffle(batches, options.seed + 1);
}

/** A padded [rows, width] block of ids with its 1/0 mask. */
export interface PaddedBatch {
  /** Row-major ids, padding filled with the pad id: [rows, width]. */
  ids: Int32Array;
  /** 1 on real tokens, 0 on padding: [rows, width]. */
  mask: Float32Array;
  /** [rows, width]. */
  shape: [number, number];
}

/** Right-pads `rows` with `padId` to `width` (default: the longest row); longer rows are cut. */
export function padRows(rows: readonly number[][], padId: number, width?: number): PaddedBatch {
  const w = width ?? Math.max(0, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * w).fill(padId);
  const mask = new Float32Array(rows.length * w);
  rows.forEach((row, r) => {
    const n = Math.min(row.length, w);
    for (let t = 0; t < n; t++) {
      ids[r * w + t] = row[t];
      mask[r * w + t] = 1;
    }
  });
  return { ids, mask, shape: [rows.length, w] };
}

/** One example for a compressed-memory model, already tokenized. */
export interface MemoryExample {
  /** Encoder text ids (special tokens already added if wanted). */
  text: number[];
  /** Decoder prompt ids, e.g. "aspect: food" (not trained on). */
  prompt: number[];
  /** Decoder target ids (trained on). */
  target: number[];
}

/** Options for {@linkcode collateMemoryBatch}. */
export interface MemoryCollateOptions {
  /** Id that pads encoder and decoder rows. */
  padId: number;
  /** Ids of the memory tokens `[M0]…[M{m-1}]` appended after the text. */
  memoryTokenIds: number[];
  /** Text ids kept before the memory tokens (longer text is truncated). */
  maxTextLength: number;
}

/** Encoder and decoder tensors' host data for one batch. */
export interface MemoryBatch {
  /** `text + [M0…]`, padded: [B, Te]. */
  encoder: PaddedBatch;
  /** Position of each memory token in each encoder row: [B, m]. */
  memoryPositions: Int32Array;
  /** `prompt + target`, padded: [B, Td]. */
  decoder: PaddedBatch;
  /** Next-token labels aligned with `decoder.ids`; IGNORE_INDEX on prompt and padding: [B, Td]. */
  labels: Int32Array;
}

/** Collates examples into encoder input + memory tokens, decoder input and shifted labels. */
export function collateMemoryBatch(
  examples: readonly MemoryExample[],
  options: MemoryCollateOptions,
): MemoryBatch {
  const m = options.memoryTokenIds.length;
  const encoderRows = examples.map((e) => [
    ...e.text.slice(0, options.maxTextLength),
    ...options.memoryTokenIds,
  ]);
  const memoryPositions = new Int32Array(examples.length * m);
  encoderRows.forEach((row, r) => {
    for (let k = 0; k < m; k++) memoryPositions[r * m + k] = row.length - m + k;
  });
  const decoderRows = examples.map((e) => [...e.prompt, ...e.target]);
  const decoder = padRows(decoderRows, options.padId);
  const width = decoder.shape[1];
  const labels = new Int32Array(examples.length * width).fill(IGNORE_INDEX);
  examples.forEach((e, r) => {
    const row = decoderRows[r];
    // Position t predicts token t+1; only target tokens are labels.
    for (let t = Math.max(0, e.prompt.length - 1); t + 1 < row.length; t++) {
      labels[r * width + t] = row[t + 1];
    }
  });
  return { encoder: padRows(encoderRows, options.padId), memoryPositions, decoder, labels };
}
