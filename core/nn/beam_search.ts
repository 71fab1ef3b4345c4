/**
 * Beam search over the KV cache: per item the `beams` best unfinished continuations, ranked on
 * the GPU among 2·beams candidates per step, with an exact stopping bound.
 *
 * @module
 */
import * as decoding from "./decoding.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { keep } from "../scope.ts";
import * as ops from "../ops/mod.ts";

/** Score of an unused beam: far below any real hypothesis, far above the fill of taken candidates. */
const DEAD = -1e30;

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
  decoder: decoding.CachedDecoder,
  input: decoding.GenerateInput,
  o: decoding.GenerateOptions,
): Promise<decoding.Generation> {
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
    const score = decoding.normalized(raw, length, penalty);
    if (!best[b] || score > best[b]!.score) best[b] = { tokens, score };
  };
  const cache = decoder.newCache(rows);
  const ranks = decoding.columnRanks(k * v);
  let hidden: Tensor | null = null;
  let scores = beamScoresOf(live);
  try {
    hidden = decoding.prefill(decoder, cache, input, k, o.pad ?? 0);
    for (let step = 0; step < o.maxNewTokens; step++) {
      const h: Tensor = hidden;
      const s: Tensor = scores;
      const packed = decoding.quietly(() => {
        const total = ops.add(decoding.logProbs(decoder, h), s);
        return decoding.topCandidates(total.reshape([items, k * v]), candidates, ranks).packed;
      });
      scores.dispose();
      hidden.dispose();
      hidden = null;
      let picks: decoding.Candidate[][];
      try {
        picks = decoding.readCandidates(await packed.data(), items, candidates, k * v);
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
      hidden = decoding.feed(decoder, cache, ids);
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

/**
 * Beam search with `beams` beams (default 1), even one (see `generate`). With one beam and
 * `lengthPenalty` 0 it returns what `greedySearch` returns.
 */
export const beamSearch: decoding.Search = decoding.checked(beam);
