/**
 * Language-model data for CLaRa's base model: documents tokenized into one stream (each followed
 * by `[SEP]`) and cut into windows of `length + 1` tokens, so a window's first `length` tokens are
 * the input and its last `length` the next-token targets. A fixed share of documents is held out
 * for perplexity.
 *
 * @module
 */
import type { TextDocument } from "../../datasets/text_corpus.ts";

/** Packed token windows, row-major `[count, length + 1]`. */
export interface TokenWindows {
  /** Tokens per input row. */
  length: number;
  /** Number of windows. */
  count: number;
  /** The tokens. */
  ids: Int32Array;
}

/** Documents (or records) split into training and held-out sets: every `every`-th is held out. */
export function holdOut<T = TextDocument>(
  docs: readonly T[],
  every: number,
): { train: T[]; heldOut: T[] } {
  if (!(every >= 2 && Number.isInteger(every))) {
    throw new Error(`holdOut: every must be an integer ≥ 2, got ${every}`);
  }
  return {
    train: docs.filter((_, i) => i % every !== every - 1),
    heldOut: docs.filter((_, i) => i % every === every - 1),
  };
}

/**
 * Concatenates the token lists (each followed by `separator`) and cuts windows of `length + 1`
 * tokens with stride `length`; a tail shorter than a window is dropped.
 */
export function packWindows(
  tokenLists: Iterable<number[]>,
  length: number,
  separator: number,
): TokenWindows {
  const stream: number[] = [];
  for (const tokens of tokenLists) {
    for (const t of tokens) stream.push(t);
    stream.push(separator);
  }
  const count = Math.max(0, Math.floor((stream.length - 1) / length));
  const ids = new Int32Array(count * (length + 1));
  for (let w = 0; w < count; w++) {
    ids.set(stream.slice(w * length, w * length + length + 1), w * (length + 1));
  }
  return { length, count, ids };
}

/** Inputs `[n, length]` and targets `[n, length]` of the windows `rows`. */
export function windowBatch(
  windows: TokenWindows,
  rows: readonly number[],
): { inputs: Int32Array; targets: Int32Array } {
  const l = windows.length;
  const inputs = new Int32Array(rows.length * l), targets = new Int32Array(rows.length * l);
  rows.forEach((r, i) => {
    const w = windows.ids.subarray(r * (l + 1), (r + 1) * (l + 1));
    inputs.set(w.subarray(0, l), i * l);
    targets.set(w.subarray(1), i * l);
  });
  return { inputs, targets };
}

/** The windows `rows` of `windows`, in that order, as their own set. */
export function selectWindows(windows: TokenWindows, rows: readonly number[]): TokenWindows {
  const w = windows.length + 1;
  const ids = new Int32Array(rows.length * w);
  rows.forEach((r, i) => ids.set(windows.ids.subarray(r * w, (r + 1) * w), i * w));
  return { length: windows.length, count: rows.length, ids };
}

/** At most `limit` rows spread evenly over `count` (all of them when `limit` is 0 or ≥ count). */
export function evenlySpaced(count: number, limit: number): number[] {
  const n = limit > 0 ? Math.min(limit, count) : count;
  return Array.from({ length: n }, (_, i) => Math.floor((i * count) / n));
}

/**
 * The windows with their second half a repeat of the first: `[a, a]`, `a` the first
 * ⌈(length + 1) / 2⌉ tokens of the window. Only copying from the context predicts the repeated
 * half, so these windows teach and, held out, measure the in-context lookup that a reader of
 * memories or documents builds on. With `every` > 1 only each `every`-th window is repeated.
 */
export function repeatHalves(windows: TokenWindows, every = 1): TokenWindows {
  if (!(Number.isInteger(every) && every >= 1)) {
    throw new Error(`repeatHalves: every must be an integer ≥ 1, got ${every}`);
  }
  const w = windows.length + 1, half = Math.ceil(w / 2);
  const ids = windows.ids.slice();
  for (let r = every - 1; r < windows.count; r += every) {
    const row = ids.subarray(r * w, (r + 1) * w);
    row.copyWithin(half, 0, w - half);
  }
  return { length: windows.length, count: windows.count, ids };
}

/** Target positions of a repeated window: the first half's, and the copyable repeat's. */
export function repeatTargetHalves(length: number): { fresh: number[]; copy: number[] } {
  const half = Math.ceil((length + 1) / 2);
  const positions = Array.from({ length }, (_, t) => t);
  // Target t is token t + 1: the repeat's first token (t + 1 = half) follows no earlier copy.
  return { fresh: positions.filter((t) => t + 1 < half), copy: positions.filter((t) => t >= half) };
}
