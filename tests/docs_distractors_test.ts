import assert from "node:assert/strict";
import { addDistractors } from "../tasks/docs/distractors.ts";
import type { InstructionRecord } from "../tasks/docs/stage_records.ts";
import { docsDistractors } from "../tasks/docs_distractors.ts";
import { instructExample } from "../tasks/clara/instruct_data.ts";
import type { TextTokenizer } from "../datasets/tokenizer.ts";

const record = (question: string, doc: string, answer: string): InstructionRecord => ({
  data_type: "instruction",
  question,
  docs: [doc],
  answer,
  pos_index: [0],
});

const RECORDS = [
  record(
    "Fill in the blank: the pier of ____ was built in 1871.",
    "The pier of Norby was built in 1871.",
    "Norby",
  ),
  record("Fill in the blank: ____ is a village.", "Varby is a village.", "Varby"),
  record(
    "Fill in the blank: the ____ opened a new pier in 1990.",
    "The town council opened a new pier in 1990.",
    "town council",
  ),
  record("Fill in the blank: ____ wrote two novels.", "Ana Lind wrote two novels.", "Ana Lind"),
  record("Fill in the blank: the river ____ is long.", "The river Ume is long.", "Ume"),
];

Deno.test("addDistractors: pads to n documents from other records, gold kept and marked", () => {
  const padded = addDistractors(RECORDS, { docs: 3, pool: 64, seed: 7 });
  assert.equal(padded.length, RECORDS.length);
  padded.forEach((r, i) => {
    assert.equal(r.docs.length, 3);
    assert.equal(new Set(r.docs).size, 3, "no document twice");
    assert.deepEqual(r.pos_index.map((p) => r.docs[p]), RECORDS[i].docs);
    const others = new Set(RECORDS.filter((_, j) => j !== i).flatMap((o) => o.docs));
    r.docs.filter((_, p) => !r.pos_index.includes(p)).forEach((d) => assert.ok(others.has(d)));
    assert.equal(r.question, RECORDS[i].question);
    assert.equal(r.answer, RECORDS[i].answer);
  });
  assert.deepEqual(addDistractors(RECORDS, { docs: 3, pool: 64, seed: 7 }), padded, "seeded");
  const places = addDistractors(RECORDS, { docs: 5, pool: 64, seed: 1 }).map((r) => r.pos_index[0]);
  assert.ok(new Set(places).size > 1, `gold moves among the documents (places ${places})`);
  assert.deepEqual(RECORDS[0].docs, ["The pier of Norby was built in 1871."], "input unchanged");
});

Deno.test("addDistractors: the BM25-best of the pool is the distractor; full records stay", () => {
  const [pier] = addDistractors(RECORDS, { docs: 2, pool: 64, seed: 3 });
  assert.ok(
    pier.docs.includes("The town council opened a new pier in 1990."),
    pier.docs.join(" | "),
  );
  const full = { ...RECORDS[1], docs: ["a", "b"], pos_index: [1] };
  assert.equal(addDistractors([full, ...RECORDS], { docs: 2, pool: 64, seed: 3 })[0], full);
});

Deno.test("docs:distractors writes the padded file; instruct's --doc-order file keeps its order", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/in.jsonl`,
    RECORDS.map((r) => JSON.stringify(r) + "\n").join(""),
  );
  const { summary } = await docsDistractors([
    "--in",
    `${dir}/in.jsonl`,
    "--out",
    `${dir}/out/padded.jsonl`,
    "--docs",
    "4",
    "--seed",
    "2",
  ]);
  assert.deepEqual(summary, { records: 5, padded: 5, docs: 4, out: `${dir}/out/padded.jsonl` });
  const written: InstructionRecord[] = (await Deno.readTextFile(`${dir}/out/padded.jsonl`))
    .trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(written, addDistractors(RECORDS, { docs: 4, pool: 64, seed: 2 }));
  await assert.rejects(
    docsDistractors(["--in", `${dir}/in.jsonl`, "--out", `${dir}/x.jsonl`, "--docs", "1"]),
    /--docs expects an integer ≥ 2/,
  );
  await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"data_type":"instruction","question":"q"}\n');
  await assert.rejects(
    docsDistractors(["--in", `${dir}/bad.jsonl`, "--out", `${dir}/y.jsonl`]),
    (e: Error) => e.message.includes("bad.jsonl") && e.message.includes("line 1"),
  );
  const r = written.find((w) => w.pos_index[0] !== 0)!;
  // One id per document, its place in the record, so the ids read are the order read.
  const tokenizer = {
    encode: (text: string) => [r.docs.indexOf(text)],
    tokenId: () => 99,
  } as unknown as TextTokenizer;
  const shape = { docsPerQuestion: 4, docTokens: 8, answerTokens: 4 };
  const fileOrder = instructExample(tokenizer, r, { ...shape, docOrder: "file" });
  assert.deepEqual(fileOrder.docs.map((d) => d[0]), [0, 1, 2, 3]);
  const bm25 = instructExample(tokenizer, r, shape);
  assert.equal(bm25.docs[0][0], r.pos_index[0], "BM25 reads the gold document first");
});
