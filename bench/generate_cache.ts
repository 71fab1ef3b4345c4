/**
 * `deno run --allow-all bench/generate_cache.ts [--tokens N]`
 *
 * What the KV cache buys in generation: greedy decoding of a batch through `nn.generate` with the
 * cache, against the same loop over a decoder that recomputes the whole sequence at every token
 * (what generation did before the cache), and beam search with 4 beams. Prints ms per token,
 * syncs, submits and dispatches per token, and whether the two greedy runs agree.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { counters, device, keep, nn, ops, type Tensor, tensor, tidy } from "../mod.ts";

/** The model without a cache: each step runs everything seen so far again. Greedy only. */
class Recomputing implements nn.CachedDecoder {
  #seen: Tensor | null = null;

  constructor(readonly model: nn.DecoderOnly) {}

  get vocabSize(): number {
    return this.model.vocabSize;
  }

  embed(ids: Tensor): Tensor {
    return this.model.embed(ids);
  }

  newCache(rows: number): nn.KVCache {
    this.dispose();
    return new nn.KVCache(rows, 0);
  }

  hiddenCached(x: Tensor): Tensor {
    const all = this.#seen ? ops.concat([this.#seen, x], 1) : x;
    this.#seen?.dispose();
    this.#seen = keep(all);
    const s = all.shape[1];
    return ops.slice(this.model.hidden(all), 1, s - x.shape[1], s);
  }

  logits(hidden: Tensor): Tensor {
    return this.model.logits(hidden);
  }

  dispose(): void {
    this.#seen?.dispose();
    this.#seen = null;
  }
}

const { values } = parseArgs({
  args: Deno.args,
  options: { tokens: { type: "string", default: "32" } },
});
const tokens = Number(values.tokens);
await device.init();
const [vocab, batch, memory, promptLength] = [4000, 8, 8, 16];
const model = new nn.DecoderOnly({
  vocabSize: vocab,
  dim: 128,
  heads: 4,
  layers: 4,
  maxLength: 128,
  positions: "rotary",
  seed: 1,
});
const prompts = Array.from(
  { length: batch },
  (_, r) => Array.from({ length: promptLength }, (_, i) => (r * 31 + i * 7) % vocab),
);
const prefix = tidy(() =>
  model.embed(tensor(prompts.flat().slice(0, batch * memory), [batch, memory], "i32"))
);
const eos = vocab - 1;
const recomputing = new Recomputing(model);

async function measure(
  name: string,
  decoder: nn.CachedDecoder,
  beams: number,
): Promise<nn.Generation> {
  const before = { ...counters };
  const start = performance.now();
  const out = await nn.generate(decoder, { prompts, prefix }, { eos, maxNewTokens: tokens, beams });
  const ms = performance.now() - start;
  const per = (k: keyof typeof counters) => ((counters[k] - before[k]) / tokens).toFixed(1);
  console.log(
    `${name.padEnd(24)} ${(ms / tokens).toFixed(1).padStart(7)} ms/token  syncs/token ${
      per("syncs")
    }  submits/token ${per("submits")}  dispatches/token ${per("dispatches")}`,
  );
  return out;
}

console.log(
  `DecoderOnly dim 128, 4 layers, vocab ${vocab}; batch ${batch}, ${memory} memory vectors + ` +
    `${promptLength} prompt tokens, ${tokens} new tokens`,
);
await measure("warm-up", model, 1);
const cached = await measure("greedy, KV cache", model, 1);
const full = await measure("greedy, recomputed", recomputing, 1);
await measure("beam 4, KV cache", model, 4);
console.log(
  `greedy outputs agree: ${JSON.stringify(cached.tokens) === JSON.stringify(full.tokens)}`,
);
recomputing.dispose();
prefix.dispose();
model.dispose();
