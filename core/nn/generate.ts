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
import {
  type CachedDecoder,
  type Candidate,
  checked,
  columnRanks,
  feed,
  type GenerateInput,
  type GenerateOptions,
  type Generation,
  logProbs,
  normalized,
  prefill,
  quietly,
  readCandidates,
  type Search,
  topCandidates,
} from "./decoding.ts";
import { beamSearch } from "./beam_search.ts";
import type { Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

export type {
  CachedDecoder,
  GenerateInput,
  GenerateOptions,
  Generation,
  Search,
} from "./decoding.ts";
export { beamSearch };

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

/** Greedy decoding (see {@linkcode generate}); `beams` is ignored. */
export const greedySearch: Search = checked(greedy);
