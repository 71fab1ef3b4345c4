/**
 * The decoding machinery that greedy and beam search share: the interface a model implements,
 * the request types and checks, the prefill of prefix ⊕ prompts into a KV cache, one cached step,
 * and the on-GPU choice of the best candidates whose picks are the only readback of a step.
 *
 * @module
 */
import { type CacheStep, type KVCache, repeatRows } from "./kv_cache.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { keep, tidy } from "../scope.ts";
import * as ops from "../ops/mod.ts";

/** What a model provides to be decoded incrementally. */
export interface CachedDecoder {
  /** Size of the vocabulary the logits range over. */
  readonly vocabSize: number;
  /** Token embeddings [B, T, D] of ids [B, T] (i32), before positions. */
  embed(ids: Tensor): Tensor;
  /** An empty cache for `rows` generation rows. */
  newCache(rows: number): KVCache;
  /**
   * Final states [B, T, D] of a step's embeddings x [B, T, D] (token embeddings or continuous
   * vectors; the decoder adds positions), reading and extending `cache`.
   */
  hiddenCached(x: Tensor, cache: KVCache, step: CacheStep): Tensor;
  /** Logits [B, T, V] of final states [B, T, D]. */
  logits(hidden: Tensor): Tensor;
}

/** Options of a generation call (`generate`, `greedySearch`, `beamSearch`). */
export interface GenerateOptions {
  /** Most tokens generated per row (the EOS counts). */
  maxNewTokens: number;
  /** Token that ends a sequence (not returned). */
  eos: number;
  /** Beam width (default 1: greedy). */
  beams?: number;
  /**
   * Scores are divided by length^lengthPenalty (default 0: plain log-probability; > 0 favours
   * longer sequences in beam search, < 0 shorter ones).
   */
  lengthPenalty?: number;
  /** Id placed at padded prompt positions (default 0); never attended to. */
  pad?: number;
}

/** The conditioning of one generation batch. */
export interface GenerateInput {
  /** Prompt token ids per row (lengths may differ; a row may be empty when a prefix is given). */
  prompts: readonly (readonly number[])[];
  /** Continuous vectors [B, P, D] before each row's prompt (e.g. memory tokens). */
  prefix?: Tensor;
  /**
   * [B][P] 1 for real prefix vectors, 0 for padding (never attended to). Prefix vector j sits at
   * position j, padded or not, as in a padded training batch; prompts continue from P.
   */
  prefixMask?: readonly (readonly number[])[];
}

/** Generated sequences and their scores. */
export interface Generation {
  /** Token ids per row, without the EOS. */
  tokens: number[][];
  /** Score per row: log-probability of the tokens and EOS, over length^lengthPenalty. */
  scores: number[];
}

/** Fill for candidates already taken: below any real score, finite so comparisons stay exact. */
const TAKEN = -3e38;

/** Runs one synchronous piece of a step without gradients, freeing its intermediates. */
export function quietly<T>(fn: () => T): T {
  return noGrad(() => tidy(fn));
}

/** Throws on a malformed request, naming the option, row or token. */
function checkRequest(
  decoder: CachedDecoder,
  input: GenerateInput,
  o: GenerateOptions,
): void {
  const v = decoder.vocabSize;
  const { prompts, prefix } = input;
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) {
    throw new Error(`generate: maxNewTokens must be an integer ≥ 0, got ${o.maxNewTokens}`);
  }
  const beams = o.beams ?? 1;
  if (!Number.isInteger(beams) || beams < 1) {
    throw new Error(`generate: beams must be an integer ≥ 1, got ${beams}`);
  }
  for (const [name, id] of [["eos", o.eos], ["pad", o.pad ?? 0]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= v) {
      throw new Error(`generate: ${name} id ${id} is outside the vocabulary 0…${v - 1}`);
    }
  }
  if (prompts.length === 0) throw new Error("generate: no prompt rows");
  if (prefix && (prefix.rank !== 3 || prefix.shape[0] !== prompts.length)) {
    throw new Error(
      `generate: prefix must be [${prompts.length}, P, D] for ${prompts.length} prompt rows, got [${prefix.shape}]`,
    );
  }
  const p = prefix?.shape[1] ?? 0;
  const mask = input.prefixMask;
  if (mask && (!prefix || mask.length !== prompts.length || mask.some((m) => m.length !== p))) {
    throw new Error(`generate: prefixMask must be [${prompts.length}][${p}] beside a prefix`);
  }
  prompts.forEach((row, r) => {
    const real = mask ? mask[r].filter((m) => m).length : p;
    if (row.length + real === 0) {
      throw new Error(`generate: row ${r} has neither prefix nor prompt`);
    }
    const bad = row.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= v);
    if (bad >= 0) {
      throw new Error(`generate: row ${r} token ${bad} = ${row[bad]} is outside 0…${v - 1}`);
    }
  });
}

/**
 * Runs `[prefix] [padding] [prompt]` of every row (each input row repeated `repeat` times) into
 * the cache and returns the final state [rows, 1, D] at each row's last real position.
 */
export function prefill(
  decoder: CachedDecoder,
  cache: KVCache,
  input: GenerateInput,
  repeat: number,
  pad: number,
): Tensor {
  const p = input.prefix?.shape[1] ?? 0;
  const width = Math.max(...input.prompts.map((row) => row.length));
  const t = p + width;
  const rows = input.prompts.length * repeat;
  const ids = new Int32Array(rows * width).fill(pad);
  const valid: boolean[][] = [];
  const positions: number[][] = [];
  const last: number[] = [];
  for (let r = 0; r < rows; r++) {
    const item = Math.floor(r / repeat);
    const prompt = input.prompts[item];
    const skip = width - prompt.length;
    ids.set(prompt, r * width + skip);
    const front = input.prefixMask?.[item].map((m) => m !== 0) ?? new Array(p).fill(true);
    valid.push([...front, ...new Array(skip).fill(false), ...new Array(prompt.length).fill(true)]);
    // Prefix j at position j; the prompt from P on; its left padding (masked) anywhere.
    positions.push(Array.from({ length: t }, (_, j) => (j < p ? j : Math.max(p, j - skip))));
    last.push(r * t + (prompt.length ? t - 1 : front.lastIndexOf(true)));
  }
  return quietly(() => {
    // Uploads first, so that they do not split the step's dispatches into several submits.
    const idTensor = width ? tensor(ids, [rows, width], "i32") : null;
    const lastTensor = tensor(last, [rows], "i32");
    const step = cache.advance(t, valid, positions);
    const parts: Tensor[] = [];
    if (input.prefix) parts.push(repeatRows(input.prefix, repeat));
    if (idTensor) parts.push(decoder.embed(idTensor));
    const x = parts.length === 1 ? parts[0] : ops.concat(parts, 1);
    const h = decoder.hiddenCached(x, cache, step);
    const d = h.shape[2];
    return ops.gatherRows(h.reshape([rows * t, d]), lastTensor).reshape([rows, 1, d]);
  });
}

/** Final state [rows, 1, D] after feeding one token per row (ids [rows, 1], i32). */
export function feed(decoder: CachedDecoder, cache: KVCache, ids: Tensor): Tensor {
  return quietly(() => {
    const step = cache.advance(1); // uploads before any dispatch of the step
    return decoder.hiddenCached(decoder.embed(ids), cache, step);
  });
}

/** Next-token log-probabilities [rows, V] of final states [rows, 1, D]. */
export function logProbs(decoder: CachedDecoder, hidden: Tensor): Tensor {
  return ops.logSoftmax(decoder.logits(hidden).reshape([hidden.shape[0], decoder.vocabSize]));
}

/** `[M, M − 1, …, 1]`: column ranks that make the first maximum of a row the largest product. */
export function columnRanks(m: number): Tensor {
  return keep(tensor(Array.from({ length: m }, (_, j) => m - j), [m]));
}

/**
 * The k best columns of each row of scores [N, M] (from {@linkcode columnRanks}), best first and
 * the lower column first among ties, as one tensor [N, 2k]: k values, then k ranks M − column
 * (exact in f32 for M < 2²⁴). `best` is the first rank [N, 1]. Composed from max/eq/where.
 */
export function topCandidates(
  scores: Tensor,
  k: number,
  ranks: Tensor,
): { packed: Tensor; best: Tensor } {
  const values: Tensor[] = [];
  const picks: Tensor[] = [];
  let x = scores;
  for (let i = 0; i < k; i++) {
    const top = ops.max(x, -1, true);
    const rank = ops.max(ops.mul(ops.eq(x, top), ranks), -1, true);
    values.push(top);
    picks.push(rank);
    if (i + 1 < k) x = ops.maskedFill(x, ops.eq(ranks, rank), TAKEN);
  }
  return { packed: ops.concat([...values, ...picks], 1), best: picks[0] };
}

/** One candidate read back: its score and column. */
export interface Candidate {
  /** The candidate's score (log-probability, plus its beam's for beam search). */
  value: number;
  /** Its column: the token id, or beam · V + token id for beam search. */
  column: number;
}

/** Decodes the host copy of {@linkcode topCandidates}' packed tensor; throws on NaN scores. */
export function readCandidates(
  host: ArrayLike<number>,
  n: number,
  k: number,
  m: number,
): Candidate[][] {
  return Array.from({ length: n }, (_, r) =>
    Array.from({ length: k }, (_, i) => {
      const value = host[r * 2 * k + i];
      const column = m - host[r * 2 * k + k + i];
      if (!(column >= 0 && column < m) || Number.isNaN(value)) {
        throw new Error(`generate: non-finite logits in row ${r} (no maximum found)`);
      }
      return { value, column };
    }));
}

/** A summed log-probability over length^penalty (unchanged for penalty 0 or length 0). */
export function normalized(raw: number, length: number, penalty: number): number {
  return penalty === 0 || length === 0 ? raw : raw / length ** penalty;
}

/** The result of generating no tokens. */
function nothing(input: GenerateInput): Generation {
  return { tokens: input.prompts.map(() => []), scores: input.prompts.map(() => 0) };
}

/** A search strategy: a decoder, the batch's conditioning and options → the generation. */
export type Search = (
  decoder: CachedDecoder,
  input: GenerateInput,
  options: GenerateOptions,
) => Promise<Generation>;

/** `search` behind the request checks, with nothing to decode for `maxNewTokens` 0. */
export function checked(search: Search): Search {
  return (decoder, input, options) => {
    checkRequest(decoder, input, options);
    if (options.maxNewTokens === 0) return Promise.resolve(nothing(input));
    return search(decoder, input, options);
  };
}
