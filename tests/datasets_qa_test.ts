import assert from "node:assert/strict";
import {
  MultiHopFormatError,
  parseMultiHopJson,
  readMultiHopJson,
  supportMask,
} from "../datasets/multihop_qa.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";

const QA = new URL("./fixtures/qa/", import.meta.url).pathname;
const SHARED = new URL("../../shared/data/", import.meta.url).pathname;
const hasShared = (() => {
  try {
    return Deno.statSync(SHARED + "hotpotqa").isDirectory;
  } catch {
    return false;
  }
})();

Deno.test("HotpotQA fixture: fields, paragraphs and supporting facts", async () => {
  const [first, second] = await readMultiHopJson(QA + "hotpot_small.json");
  assert.equal(first.source, "hotpotqa");
  assert.equal(first.id, "hp-1");
  assert.equal(first.paragraphs[1].title, "Norby");
  assert.deepEqual(first.supportingFacts[0], { title: "Ana Lind", sentenceIndex: 1 });
  assert.deepEqual([first.type, first.level, second.type], ["bridge", "easy", "comparison"]);
});

Deno.test("MuSiQue fixture: paragraphs become one-sentence paragraphs", async () => {
  const [ex] = await readMultiHopJson(QA + "musique_small.json");
  assert.equal(ex.source, "musique");
  assert.deepEqual(ex.supportingFacts, [{ title: "Norby", sentenceIndex: 0 }]);
});

Deno.test("support masks align exactly with the context tokens", async () => {
  const examples = await readMultiHopJson(QA + "hotpot_small.json");
  const corpus = examples.flatMap((e) =>
    e.paragraphs.flatMap((p) => p.sentences.map((s) => `${p.title}: ${s}`))
  );
  const tok = new TextTokenizer(trainWordPiece(corpus, { vocabSize: 300 }));
  const encode = (t: string) => tok.encode(t, false);
  const { ids, mask, spans } = supportMask(examples[0], encode);
  assert.equal(ids.length, mask.length);
  const expectedIds = examples[0].paragraphs.flatMap((p) =>
    p.sentences.flatMap((s) => encode(`${p.title}: ${s.trim()}`))
  );
  assert.deepEqual(ids, expectedIds);
  const masked = ids.filter((_, i) => mask[i] === 1);
  assert.equal(
    tok.decode(masked),
    [
      encode("Ana Lind: She was born in Norby."),
      encode("Norby: Norby is a town on the river Elvar."),
    ]
      .map((x) => tok.decode(x)).join(" "),
  );
  const supported = spans.filter((s) => mask[s.start] === 1).map((s) =>
    `${s.title}#${s.sentenceIndex}`
  );
  assert.deepEqual(supported, ["Ana Lind#1", "Norby#0"]);
});

Deno.test("malformed QA JSON names the file and example", () => {
  assert.throws(() => parseMultiHopJson("x.json", "{oops"), /x\.json: file: not JSON/);
  assert.throws(
    () => parseMultiHopJson("y.json", JSON.stringify([{ _id: "a", question: "q", answer: "a" }])),
    (e: Error) =>
      e instanceof MultiHopFormatError && /y\.json: example 0: .*"context"/.test(e.message),
  );
  assert.throws(
    () =>
      parseMultiHopJson(
        "z.json",
        JSON.stringify([{
          _id: "a",
          question: "q",
          answer: "a",
          context: [["T", ["s"]]],
          supporting_facts: [["T", "zero"]],
        }]),
      ),
    /z\.json: example 0: supporting_facts\[0\] is not \[title, sentence index\]/,
  );
});

Deno.test({
  name: "shared HotpotQA, 2Wiki and MuSiQue samples read with the documented counts",
  ignore: !hasShared,
  fn: async () => {
    const counts: Record<string, number> = {
      "hotpotqa/train.json": 80,
      "hotpotqa/dev.json": 20,
      "hotpotqa/dev_more.json": 800,
      "hotpotqa/train_more.json": 100,
      "2wiki/dev_sample.json": 500,
      "2wiki/train_sample.json": 494,
      "musique/train_sample.json": 100,
      "musique/unknown_split_sample.json": 230,
    };
    for (const [file, n] of Object.entries(counts)) {
      const examples = await readMultiHopJson(SHARED + file);
      assert.equal(examples.length, n, file);
      for (const ex of examples) {
        const titles = new Set(ex.paragraphs.map((p) => p.title));
        assert.ok(ex.supportingFacts.every((f) => titles.has(f.title)), `${file} ${ex.id}`);
      }
    }
    const train = await readMultiHopJson(SHARED + "hotpotqa/train.json");
    assert.deepEqual(
      ["bridge", "comparison"].map((t) => train.filter((e) => e.type === t).length),
      [60, 20],
    );
  },
});
