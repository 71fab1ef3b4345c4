/**
 * Text generation for every model: greedy decoding and beam search over a KV cache, from a
 * prefix of continuous vectors (memory tokens) plus prompt token ids, batched.
 *
 * A model takes part by implementing {@linkcode CachedDecoder} (`DecoderOnly` does;
 * `EncoderDecoder.decoderFor(memory)` gives one; a memory LM wraps its backbone's
 * `TransformerEncoder.newCache` / `forwardCached`). Prompts of different lengths sit in one batch
 * as `[prefix] [padding] [prompt]`; prompt padding is masked out of attention and takes no
 * position, so each row decodes as it would alone. A step uploads its few host values first,
 * records the decoder's dispatches, picks tokens on the GPU and reads back only the picks (k
 * values and columns per row): one submit and one sync per generated token for the whole batch.
 *
 * Scores are sums of the generated tokens' log-probabilities (the EOS included) divided by
 * length^lengthPenalty. With `lengthPenalty` 0 (the default) beam search with one beam returns
 * exactly the greedy sequence.
 *
 * ```ts
 * const { tokens, scores } = await nn.generate(model, { prompts: [[bos], [bos]], prefix: memory }, {
 *   eos,
 *   maxNewTokens: 32,
 *   beams: 4,
 * });
 * ```
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

/** Options of {@linkcode generate}. */
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
/** Score of an unused beam: far below any real hypothesis, far above {@linkcode TAKEN}. */
const DEAD = -1e30;

/**
 * Generates a continuation of every row of `input` with `decoder`: greedy decoding, or beam
 * search when `beams` > 1. Runs without gradients; the cache lives only for this call.
 */
export async function generate(
  decoder: CachedDecoder,
  input: GenerateInput,
  options: GenerateOptions,
): Promise<Generation> {
  return (options.beams ?? 1) === 1
    ? await greedySearch(decoder, input, options)
    : await beamSearch(decoder, input, options);
}

/** Runs one synchronous piece of a step without gradients, freeing its intermediates. */
function quietly<T>(fn: () => T): T {
  return noGrad(() => tidy(fn));
}

function checkRequest(decoder: CachedDecoder, input: GenerateInput, o: GenerateOptions): void {
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
function prefill(
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
function feed(decoder: CachedDecoder, cache: KVCache, ids: Tensor): Tensor {
  return quietly(() => {
    const step = cache.advance(1); // uploads before any dispatch of the step
    return decoder.hiddenCached(decoder.embed(ids), cache, step);
  });
}

/** Next-token log-probabilities [rows, V] of final states [rows, 1, D]. */
function logProbs(decoder: CachedDecoder, hidden: Tensor): Tensor {
  return ops.logSoftmax(decoder.logits(hidden).reshape([hidden.shape[0], decoder.vocabSize]));
}

/** `[M, M − 1, …, 1]`: column ranks that make the first maximum of a row the largest product. */
function columnRanks(m: number): Tensor {
  return keep(tensor(Array.from({ length: m }, (_, j) => m - j), [m]));
}

/**
 * The k best columns of each row of scores [N, M] (from {@linkcode columnRanks}), best first and
 * the lower column first among ties, as one tensor [N, 2k]: k values, then k ranks M − column
 * (exact in f32 for M < 2²⁴). `best` is the first rank [N, 1]. Composed from max/eq/where.
 */
function topCandidates(scores: Tensor, k: number, ranks: Tensor): { packed: Tensor; best: Tensor } {
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
interface Candidate {
  value: number;
  column: number;
}

/** Decodes the host copy of {@linkcode topCandidates}' packed tensor; throws on NaN scores. */
function readCandidates(host: ArrayLike<number>, n: number, k: number, m: number): Candidate[][] {
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

function normalized(raw: number, length: number, penalty: number): number {
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
function checked(search: Search): Search {
  return (decoder, input, options) => {
    checkRequest(decoder, input, options);
    if (options.maxNewTokens === 0) return Promise.resolve(nothing(input));
    return search(decoder, input, options);
  };
}

async function greedy(
  decoder: CachedDecoder,
  input: GenerateInput,
  o: GenerateOptions,
): Promise<Generation> {
  const rows = input.prompts.length;
  const v = decoder.vocabSize;
  const tokens: number[][] = input.prompts.map(() => []);
  const raw = new Array(rows).fill(0);
  const done = new Array(rows).fill(false);
  const cache = decoder.newCache(rows);
  const ranks = columnRanks(v);
  let hidden: Tensor | null = null;
  try {
    hidden = prefill(decoder, cache, input, 1, o.pad ?? 0);
    for (let step = 0; step < o.maxNewTokens; step++) {
      const h: Tensor = hidden;
      const { packed, next } = quietly(() => {
        const top = topCandidates(logProbs(decoder, h), 1, ranks);
        const ids = ops.cast(ops.add(ops.neg(top.best), v), "i32").reshape([rows, 1]);
        return { packed: top.packed, next: ids };
      });
      hidden.dispose();
      hidden = null;
      let picks: Candidate[][];
      try {
        picks = readCandidates(await packed.data(), rows, 1, v);
      } finally {
        packed.dispose();
      }
      picks.forEach(([pick], r) => {
        if (done[r]) return;
        raw[r] += pick.value;
        if (pick.column === o.eos) done[r] = true;
        else tokens[r].push(pick.column);
      });
      if (step + 1 < o.maxNewTokens && done.includes(false)) hidden = feed(decoder, cache, next);
      next.dispose();
      if (!hidden) break;
    }
  } finally {
    hidden?.dispose();
    ranks.dispose();
    cache.dispose();
  }
  const penalty = o.lengthPenalty ?? 0;
  const scores = raw.map((s, r) => normalized(s, tokens[r].length + (done[r] ? 1 : 0), penalty));
  return { tokens, scores };
}

/** One beam of one item: its tokens so far and their summed log-probability. */
interface Beam {
  tokens: number[];
  raw: number;
}

/** Summed log-probabilities [rows, 1] of the beams, {@linkcode DEAD} for unused ones. */
function beamScoresOf(live: (Beam | null)[][]): Tensor {
  const raw = live.flat().map((beam) => beam?.raw ?? DEAD);
  return keep(tensor(raw, [raw.length, 1]));
}

/** The best finished hypothesis of an item. */
interface Finished {
  tokens: number[];
  score: number;
}

/**
 * Beam search: each step keeps the `beams` best unfinished continuations of every item from its
 * 2·beams best candidates; a candidate ending in EOS competes as a finished hypothesis. An item
 * stops when no live beam can still beat its best finished one (scores only fall as tokens are
 * added, so the bound is exact), or at `maxNewTokens`, where live beams finish as they are.
 */
async function beam(
  decoder: CachedDecoder,
  input: GenerateInput,
  o: GenerateOptions,
): Promise<Generation> {
  const k = o.beams ?? 1;
  const items = input.prompts.length;
  const rows = items * k;
  const v = decoder.vocabSize;
  const penalty = o.lengthPenalty ?? 0;
  const candidates = Math.min(2 * k, k * v);
  // live[b][j]: beam j of item b, null when unused.
  let live: (Beam | null)[][] = Array.from(
    { length: items },
    () => [{ tokens: [], raw: 0 }, ...new Array(k - 1).fill(null)],
  );
  const best: (Finished | null)[] = new Array(items).fill(null);
  const done = new Array(items).fill(false);
  const finish = (b: number, tokens: number[], raw: number, length: number) => {
    const score = normalized(raw, length, penalty);
    if (!best[b] || score > best[b]!.score) best[b] = { tokens, score };
  };
  const cache = decoder.newCache(rows);
  const ranks = columnRanks(k * v);
  let hidden: Tensor | null = null;
  let scores = beamScoresOf(live);
  try {
    hidden = prefill(decoder, cache, input, k, o.pad ?? 0);
    for (let step = 0; step < o.maxNewTokens; step++) {
      const h: Tensor = hidden;
      const s: Tensor = scores;
      const packed = quietly(() => {
        const total = ops.add(logProbs(decoder, h), s);
        return topCandidates(total.reshape([items, k * v]), candidates, ranks).packed;
      });
      scores.dispose();
      hidden.dispose();
      hidden = null;
      let picks: Candidate[][];
      try {
        picks = readCandidates(await packed.data(), items, candidates, k * v);
      } finally {
        packed.dispose();
      }
      const parents: number[] = [];
      const nextTokens: number[] = [];
      const last = step + 1 === o.maxNewTokens;
      live = live.map((beams, b) => {
        const kept: Beam[] = [];
        const keptParents: number[] = [];
        for (const { value, column } of done[b] ? [] : picks[b]) {
          const parent = beams[Math.floor(column / v)];
          if (!parent) continue;
          const token = column % v;
          if (token === o.eos) {
            finish(b, parent.tokens, value, parent.tokens.length + 1);
          } else {
            kept.push({ tokens: [...parent.tokens, token], raw: value });
            keptParents.push(b * k + Math.floor(column / v));
          }
          if (kept.length === k) break;
        }
        if (last) { for (const beam of kept) finish(b, beam.tokens, beam.raw, beam.tokens.length); }
        const top = Math.max(...kept.map((beam) => beam.raw));
        const bound = penalty >= 0 ? top / o.maxNewTokens ** penalty : top / (step + 2) ** penalty;
        done[b] ||= last || kept.length === 0 || (best[b] !== null && bound <= best[b]!.score);
        for (let j = 0; j < k; j++) {
          parents.push(keptParents[j] ?? b * k + j);
          nextTokens.push(kept[j]?.tokens.at(-1) ?? o.eos);
        }
        return done[b]
          ? new Array(k).fill(null)
          : [...kept, ...new Array(k - kept.length).fill(null)];
      });
      if (done.every((d) => d)) break;
      // Every upload of the next step before its dispatches: one submit per step.
      const ids = tensor(nextTokens, [rows, 1], "i32");
      scores = beamScoresOf(live);
      cache.reorder(parents);
      hidden = feed(decoder, cache, ids);
      ids.dispose();
    }
  } finally {
    hidden?.dispose();
    scores.dispose();
    ranks.dispose();
    cache.dispose();
  }
  return {
    tokens: best.map((f) => f!.tokens),
    scores: best.map((f) => f!.score),
  };
}

/** Greedy decoding (see {@linkcode generate}); `beams` is ignored. */
export const greedySearch: Search = checked(greedy);

/**
 * Beam search with `beams` beams (default 1), even one (see {@linkcode generate}). With one beam
 * and `lengthPenalty` 0 it returns what {@linkcode greedySearch} returns.
 */
export const beamSearch: Search = checked(beam);
