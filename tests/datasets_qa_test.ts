import assert from "node:assert/strict";
import {
  MultiHopFormatError,
  parseMultiHopJson,
  readMultiHopJson,
  supportMask,
} from "../datasets/multihop_qa.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { SHARED_DATA, sharedDataTest } from "./shared_data.ts";

const QA = new URL("./fixtures/qa/", import.meta.url).pathname;

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

/** The message `parseMultiHopJson(file, text)` refuses the text with. */
function refusal(file: string, text: string): string {
  try {
    parseMultiHopJson(file, text);
  } catch (e) {
    assert.ok(e instanceof MultiHopFormatError, `${file}: ${(e as Error).name}`);
    return e.message;
  }
  throw new Error(`${file} was accepted`);
}

const hotpot = (fields: Record<string, unknown>) => ({
  _id: "a",
  question: "q",
  answer: "x",
  context: [["T", ["s0", "s1"]], ["U", ["u0"]]],
  supporting_facts: [["T", 1], ["U", 0]],
  ...fields,
});

Deno.test("malformed QA JSON names the file, the line or example id, and the field", () => {
  // The part in parentheses is V8's own JSON.parse message.
  assert.match(refusal("x.json", "{oops"), /^x\.json: line 1: not JSON or JSON Lines \(.+\)$/);
  assert.match(
    refusal("l.json", `${JSON.stringify(hotpot({}))}\n\n{"_id": "b",\n`),
    /^l\.json: line 3: not JSON or JSON Lines \(.+\)$/,
  );
  assert.match(refusal("j.json", "[{]"), /^j\.json: file: not a JSON array \(.+\)$/);
  assert.equal(
    refusal("y.json", JSON.stringify([{ _id: "a", question: "q", answer: "a" }])),
    'y.json: example 0 (_id "a"): missing array field "context"',
  );
  assert.equal(
    refusal("n.json", JSON.stringify([hotpot({ _id: undefined })])),
    'n.json: example 0: missing string field "_id"',
  );
  assert.equal(
    refusal("a.json", JSON.stringify([hotpot({}), hotpot({ _id: "b", answer: 3 })])),
    'a.json: example 1 (_id "b"): missing string field "answer"',
  );
  assert.equal(
    refusal("z.json", JSON.stringify([hotpot({ supporting_facts: [["T", "zero"]] })])),
    'z.json: example 0 (_id "a"): supporting_facts[0] is not [title, sentence index]',
  );
  assert.equal(
    refusal("s.json", JSON.stringify([hotpot({ context: [["T", ["s0", 7]]] })])),
    's.json: example 0 (_id "a"): context[0] ("T") sentence 1 is not a string',
  );
  assert.equal(
    refusal("t.json", JSON.stringify([hotpot({ type: 2 })])),
    't.json: example 0 (_id "a"): field "type" is 2, expected a string',
  );
  assert.equal(
    refusal("m.json", JSON.stringify([{ id: "2hop_1", question: "q", paragraphs: [] }])),
    'm.json: example 0 (id "2hop_1"): missing string field "answer"',
  );
});

Deno.test("a supporting fact that points at a missing paragraph or sentence is an error", () => {
  assert.equal(
    refusal(
      "p.json",
      JSON.stringify([hotpot({ _id: "hp-9", supporting_facts: [["T", 0], ["V", 0]] })]),
    ),
    'p.json: example 0 (_id "hp-9"): supporting_facts[1] names paragraph "V", which "context" ' +
      "does not hold",
  );
  assert.equal(
    refusal("q.json", JSON.stringify([hotpot({ supporting_facts: [["T", 2]] })])),
    'q.json: example 0 (_id "a"): supporting_facts[0] points at sentence 2 of "T", which has 2 ' +
      "sentence(s)",
  );
  assert.equal(
    parseMultiHopJson("ok.json", JSON.stringify([hotpot({})]))[0].supportingFacts.length,
    2,
  );
});

Deno.test("a QA file that is not UTF-8 names the byte offset and line", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeFile(path, Uint8Array.of(0x5b, 0x0a, 0x22, 0xff, 0x22, 0x5d));
    await assert.rejects(
      () => readMultiHopJson(path),
      (e: Error) =>
        e instanceof MultiHopFormatError &&
        e.message === `${path}: file: not valid UTF-8 at byte offset 3 (line 2): byte 0xff ` +
            "cannot start a UTF-8 character; save the file as UTF-8 (it may be Latin-1 or " +
            "Windows-1252)",
    );
  } finally {
    await Deno.remove(path);
  }
});

sharedDataTest(
  "shared HotpotQA, 2Wiki and MuSiQue samples read with the documented counts",
  ["hotpotqa", "2wiki", "musique"],
  async () => {
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
      const examples = await readMultiHopJson(SHARED_DATA + file);
      assert.equal(examples.length, n, file);
      for (const ex of examples) {
        const titles = new Set(ex.paragraphs.map((p) => p.title));
        assert.ok(ex.supportingFacts.every((f) => titles.has(f.title)), `${file} ${ex.id}`);
      }
    }
    const train = await readMultiHopJson(SHARED_DATA + "hotpotqa/train.json");
    assert.deepEqual(
      ["bridge", "comparison"].map((t) => train.filter((e) => e.type === t).length),
      [60, 20],
    );
  },
);
