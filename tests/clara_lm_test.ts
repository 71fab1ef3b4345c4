import { assert, assertEquals, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { splitArticles } from "../datasets/text_corpus.ts";
import { evenlySpaced, holdOut, packWindows, windowBatch } from "../tasks/clara/lm_data.ts";
import { heldOutPerplexity } from "../tasks/clara/lm_training.ts";
import { loadLmModel } from "../tasks/clara/model_dir.ts";
import { parseTrainClaraArgs, trainClara } from "../tasks/train_clara.ts";

Deno.test("splitArticles: one document per top-level `= Title =`, WikiText sections stay in the text", () => {
  const text =
    " = Alpha = \r\n\r\nFirst line.\r\n = = History = = \r\nMore.\r\n= Beta =\n\nSecond.\n";
  const docs = splitArticles("wiki.txt", text);
  assertEquals(docs.map((d) => d.title), ["Alpha", "Beta"]);
  assertEquals(docs[0].text, "First line.\n = = History = = \nMore.");
  assertEquals(docs[1].text, "Second.");
  assertEquals(splitArticles("plain.txt", "just text\n").map((d) => d.title), ["plain.txt"]);
});

Deno.test("packWindows: one stream with a separator after each document, windows overlap by one", () => {
  const w = packWindows([[1, 2, 3], [4, 5]], 3, 9);
  // Stream 1 2 3 9 4 5 9: windows [1 2 3 9] and [9 4 5 9].
  assertEquals([w.count, Array.from(w.ids)], [2, [1, 2, 3, 9, 9, 4, 5, 9]]);
  const b = windowBatch(w, [1, 0]);
  assertEquals(Array.from(b.inputs), [9, 4, 5, 1, 2, 3]);
  assertEquals(Array.from(b.targets), [4, 5, 9, 2, 3, 9]);
  assertEquals(evenlySpaced(10, 4), [0, 2, 5, 7]);
  assertEquals(evenlySpaced(3, 0), [0, 1, 2]);
  const docs = Array.from({ length: 6 }, (_, i) => ({ title: `${i}`, text: "x", source: "f" }));
  assertEquals(holdOut(docs, 3).heldOut.map((d) => d.title), ["2", "5"]);
});

const SENTENCES = [
  "The river flows north through the old town and past the mill.",
  "A bridge of grey stone crosses the river near the market square.",
  "Farmers bring apples, cheese and bread to the market every Saturday.",
  "The mill was built in the twelfth century and still grinds wheat.",
];

function writeCorpus(dir: string): string[] {
  const pages = Array.from(
    { length: 24 },
    (_, i) =>
      `= Page ${i} =\n\n${
        Array.from({ length: 6 }, (_, j) => SENTENCES[(i + j) % SENTENCES.length]).join(" ")
      }\n`,
  );
  Deno.writeTextFileSync(`${dir}/wiki.txt`, pages.join("\n"));
  const qa = [{
    _id: "q1",
    question: "Where does the river flow?",
    answer: "north",
    supporting_facts: [["Town", 0]],
    context: [["Town", [SENTENCES[0], SENTENCES[1]]], ["Market", [SENTENCES[2]]]],
    type: "bridge",
    level: "easy",
  }];
  Deno.writeTextFileSync(`${dir}/qa.json`, JSON.stringify(qa));
  return [
    "--stage",
    "lm",
    "--text",
    `${dir}/wiki.txt`,
    "--qa",
    `${dir}/qa.json`,
    "--vocab-size",
    "120",
    "--seq-len",
    "16",
    "--batch-size",
    "8",
    "--dim",
    "32",
    "--hidden",
    "64",
    "--layers",
    "1",
    "--heads",
    "2",
    "--warmup",
    "5",
    "--hold-out-every",
    "4",
    "--save-every",
    "2",
  ];
}

function losses(path: string): number[] {
  const [header, ...rows] = Deno.readTextFileSync(path).trim().split("\n");
  const c = header.split(",").indexOf("loss");
  return rows.map((r) => Number(r.split(",")[c]));
}

gpuTest(
  "train:clara --stage lm learns the corpus (held-out perplexity far below its start), saves a loadable best model and resumes exactly",
  async () => {
    const dir = Deno.makeTempDirSync();
    const args = writeCorpus(dir);
    const quiet = () => {};
    const start = await trainClara(
      parseTrainClaraArgs([...args, "--out", `${dir}/untrained`, "--max-steps", "1", "--lr", "0"]),
      quiet,
    );
    const full = await trainClara(
      parseTrainClaraArgs([...args, "--out", `${dir}/full`, "--epochs", "4", "--lr", "1e-2"]),
      quiet,
    );
    assert(
      full.perplexity < start.perplexity / 4,
      `held-out perplexity ${full.perplexity} vs ${start.perplexity} untrained`,
    );
    const { model, run } = await loadLmModel(`${dir}/full/best`);
    assertEquals(run.seqLen, 16);
    model.dispose();

    const partial = [...args, "--out", `${dir}/resumed`, "--epochs", "4", "--lr", "1e-2"];
    const first = await trainClara(parseTrainClaraArgs([...partial, "--max-steps", "5"]), quiet);
    assertEquals(first.steps, 5);
    const rest = await trainClara(parseTrainClaraArgs([...partial, "--resume"]), quiet);
    assertEquals(rest.steps, full.steps);
    assertEquals(losses(`${dir}/resumed/train_log.csv`), losses(`${dir}/full/train_log.csv`));
    assertEquals(rest.perplexity, full.perplexity);
  },
);

gpuTest("heldOutPerplexity of a loaded base LM equals the one measured in training", async () => {
  const dir = Deno.makeTempDirSync();
  const withQa = writeCorpus(dir);
  const q = withQa.indexOf("--qa");
  const args = [...withQa.slice(0, q), ...withQa.slice(q + 2)];
  const result = await trainClara(
    parseTrainClaraArgs([...args, "--out", `${dir}/run`, "--epochs", "1"]),
    () => {},
  );
  const { model, run, tokenizer } = await loadLmModel(`${dir}/run/best`);
  const sep = tokenizer.tokenId("[SEP]");
  const text = Deno.readTextFileSync(`${dir}/wiki.txt`);
  const docs = holdOut(splitArticles(`${dir}/wiki.txt`, text), 4).heldOut;
  const windows = packWindows(
    docs.map((d) => tokenizer.encode(`${d.title}\n${d.text}`, false)),
    run.seqLen,
    sep,
  );
  const { perplexity } = await heldOutPerplexity(model, windows, 8);
  // Same weights and windows, other batch grouping of the sums: f32 rounding only.
  assert(
    Math.abs(perplexity - result.perplexity) < 1e-3 * result.perplexity,
    `${perplexity} vs ${result.perplexity}`,
  );
  model.dispose();
});

Deno.test("train:clara rejects a missing stage by name and sends memory stages to their parser", () => {
  assertThrows(
    () => parseTrainClaraArgs([]),
    "--stage: expected lm, pretrain or instruct, got nothing",
  );
  assertThrows(
    () => parseTrainClaraArgs(["--stage", "instruct"]),
    "--stage instruct: its flags are parsed by parseMemoryStageArgs",
  );
  assertThrows(
    () => parseTrainClaraArgs(["--stage", "lm", "--dim", "x"]),
    '--dim: expected an integer, got "x"',
  );
});
