import assert from "node:assert/strict";
import { docsSynthesize } from "../tasks/docs_synthesize.ts";
import { SHARED_DATA, sharedDataTest } from "./shared_data.ts";

const quiet = { progress: { write: () => {} }, warn: () => {} };
const lines = async (path: string) =>
  (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));

const HOTPOT = [{
  _id: "h1",
  question: "Who built the pier of the town where Ana Lind was born?",
  answer: "Ana Lind",
  supporting_facts: [["Ana Lind", 0], ["Norby", 1]],
  context: [
    ["Ana Lind", ["Ana Lind was born in Norby.", " She was an engineer."]],
    ["Varby", ["Varby is a village."]],
    ["Norby", ["Norby is a port.", "Its pier was built by Ana Lind."]],
  ],
  type: "bridge",
  level: "easy",
}];
const MUSIQUE = [{
  id: "m1",
  question: "When did the port open?",
  answer: "1871",
  paragraphs: [
    { idx: 0, title: "Varby", paragraph_text: "Varby is inland.", is_supporting: false },
    { idx: 1, title: "Norby", paragraph_text: "Norby's port opened in 1871.", is_supporting: true },
  ],
}];

Deno.test("docs:synthesize --from-qa converts HotpotQA and MuSiQue into the stage formats", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/hotpot.json`, JSON.stringify(HOTPOT));
  await Deno.writeTextFile(`${dir}/musique.jsonl`, JSON.stringify(MUSIQUE[0]) + "\n");
  const { result } = await docsSynthesize(
    ["--from-qa", `${dir}/hotpot.json`, "--from-qa", `${dir}/musique.jsonl`, "--out", `${dir}/qa`],
    () => undefined,
    quiet,
  );
  assert.deepEqual(result, {
    kind: "from-qa",
    files: [`${dir}/hotpot.json`, `${dir}/musique.jsonl`],
    pretrain: 2,
    instruction: 2,
  });
  const instruction = await lines(`${dir}/qa/instruction.jsonl`);
  assert.deepEqual(instruction[0], {
    data_type: "instruction",
    question: HOTPOT[0].question,
    docs: [
      "Ana Lind: Ana Lind was born in Norby. She was an engineer.",
      "Varby: Varby is a village.",
      "Norby: Norby is a port. Its pier was built by Ana Lind.",
    ],
    answer: "Ana Lind",
    pos_index: [0, 2],
  });
  assert.deepEqual(instruction[1].pos_index, [1]);
  const pretrain = await lines(`${dir}/qa/pretrain.jsonl`);
  assert.deepEqual(pretrain[1], {
    data_type: "qa",
    question: ["When did the port open?"],
    answers: ["1871"],
    docs: ["Norby: Norby's port opened in 1871."],
  });
  await assert.rejects(
    docsSynthesize(["--from-qa", `${dir}/hotpot.json`, "--in", "x", "--out", dir], () => undefined),
    /--from-qa and --in exclude each other/,
  );
  await Deno.remove(dir, { recursive: true });
});

const SHARED_QA = ["hotpotqa/dev.json", "2wiki/dev_sample.json", "musique/train_sample.json"];

sharedDataTest(
  "docs:synthesize --from-qa reads the shared HotpotQA, 2Wiki and MuSiQue samples",
  SHARED_QA,
  async () => {
    const dir = await Deno.makeTempDir();
    const files = SHARED_QA;
    const { result } = await docsSynthesize(
      [...files.flatMap((f) => ["--from-qa", SHARED_DATA + f]), "--out", dir],
      () => undefined,
      quiet,
    );
    assert.ok(result.kind === "from-qa");
    if (result.kind !== "from-qa") return;
    assert.equal(result.instruction, 20 + 500 + 100);
    const instruction = await lines(`${dir}/instruction.jsonl`);
    assert.ok(instruction.every((r) => r.pos_index.length > 0 && r.docs.length > 1 && r.answer));
    await Deno.remove(dir, { recursive: true });
  },
);
