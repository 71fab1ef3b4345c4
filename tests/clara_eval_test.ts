import { assert, assertEquals, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { fixtureEvalArgs, QA_EXAMPLES, runTask, writeClaraFixture } from "./clara_fixtures.ts";
import * as device from "../core/device.ts";
import { noGrad } from "../core/autograd.ts";
import { readSafetensorsHost } from "../core/io/safetensors.ts";
import { exactMatch } from "../core/metrics/qa.ts";
import { bm25Rank } from "../datasets/bm25.ts";
import { readMultiHopJson } from "../datasets/multihop_qa.ts";
import { majorityAnswer, majorityAnswers, overlapSpan } from "../tasks/clara/baselines.ts";
import { selectDocuments } from "../tasks/clara/doc_selection.ts";
import { withNextDocuments } from "../tasks/clara/shuffled_control.ts";
import { batchMemory } from "../tasks/clara/memory_batch.ts";
import { memoryModelFromBase, saveMemoryModel } from "../tasks/clara/memory_dir.ts";
import { parseInstructionRecords, parsePretrainRecords } from "../tasks/clara/stage_records.ts";
import { paragraphDoc } from "../tasks/docs/from_qa.ts";
import { indexClara } from "../tasks/index_clara.ts";

const MEMORY = { memoryTokens: 6, compressionRate: 4, rank: 4, docTokens: 24 };

/** A fixture with an untrained memory model saved as a checkpoint. */
async function checkpointFixture() {
  const f = await writeClaraFixture();
  await device.init();
  const { model, base, tokenizer } = await memoryModelFromBase(f.base, MEMORY, 1024);
  const checkpoint = `${f.dir}/clara`;
  await saveMemoryModel(checkpoint, model, {
    format: "fast-clara-memory/1",
    stage: "pretrain",
    base,
    memory: MEMORY,
  }, tokenizer);
  return { f, model, tokenizer, checkpoint };
}

const evalCli = (args: string[]) => runTask("eval_clara.ts", args);

gpuTest(
  "eval:clara --json on a fixture: one object with em, f1, n, compression, per-type figures and the baselines of the same run",
  async () => {
    const { f, model, checkpoint } = await checkpointFixture();
    model.dispose();
    for (const setting of ["oracle", "normal"]) {
      const predictionsFile = `${f.dir}/predictions-${setting}.jsonl`;
      const r = await evalCli([
        ...fixtureEvalArgs(checkpoint, f),
        "--setting",
        setting,
        "--predictions",
        predictionsFile,
        "--json",
      ]);
      assertEquals(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      for (const key of ["em", "f1", "n", "compression", "by_type", "recall_at_k"]) {
        assert(key in report, `--json lacks "${key}"`);
      }
      assertEquals([report.n, report.compression, report.setting, report.k], [4, 4, setting, 2]);
      assertEquals(report.by_type.bridge.n, 4);
      assertEquals(report.text_baseline.n, 4);
      // The training answers of "bridge" are all distinct: the first one is the majority, and
      // it is right for exactly one of the four dev questions.
      assertEquals(report.majority_baseline.em, 0.25);
      // All four are "bridge" questions, so the majority baseline gives one answer to all.
      assertEquals(report.majority_baseline.commonest_share, 1);
      // Oracle reads every gold document (at most 2 per question here, k = 2).
      if (setting === "oracle") assertEquals(report.recall_at_k, 1);
      const dev = await readMultiHopJson(f.dev);
      const expected = dev.map((e) => {
        const docs = e.paragraphs.map((p) => paragraphDoc(p.title, p.sentences));
        const gold = e.paragraphs.flatMap((p, i) =>
          e.supportingFacts.some((s) => s.title === p.title) ? [i] : []
        );
        const chosen = selectDocuments(e.question, docs, gold, 2, setting as "oracle" | "normal");
        return overlapSpan(e.question, chosen.map((i) => docs[i]));
      });
      const exact = dev.filter((e, i) => expected[i].toLowerCase() === e.answer.toLowerCase());
      assertEquals(report.overlap_baseline.em, exact.length / 4);
      // One line per question, in file order, whose answers give the report's scores.
      const rows = (await Deno.readTextFile(predictionsFile)).trim().split("\n")
        .map((l) => JSON.parse(l));
      assertEquals(rows.map((p) => p.id), dev.map((e) => e.id));
      assertEquals(rows.map((p) => p.overlap), expected);
      const em = (key: string) =>
        rows.filter((p) => exactMatch(p[key], p.gold)).length / rows.length;
      assertEquals(
        [em("memory"), em("text"), em("majority"), em("overlap")],
        [
          report.em,
          report.text_baseline.em,
          report.majority_baseline.em,
          report.overlap_baseline.em,
        ],
      );
    }
  },
);

gpuTest(
  "eval:clara --shuffled-baseline: a row of its own, scored from its predictions",
  async () => {
    const { f, model, checkpoint } = await checkpointFixture();
    model.dispose();
    const predictionsFile = `${f.dir}/shuffled.jsonl`;
    const r = await evalCli([
      ...fixtureEvalArgs(checkpoint, f),
      "--no-text-baseline",
      "--shuffled-baseline",
      "--predictions",
      predictionsFile,
      "--json",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const rows = (await Deno.readTextFile(predictionsFile)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assertEquals(report.shuffled_baseline.n, rows.length);
    assert(rows.every((p) => typeof p.shuffled === "string" && !("text" in p)));
    const em = rows.filter((p) => exactMatch(p.shuffled, p.gold)).length / rows.length;
    assertEquals(report.shuffled_baseline.em, em);
    assertEquals(report.text_baseline, null);
    // The paired differences cover exactly the systems that ran, and their means are the rows'.
    assertEquals(Object.keys(report.f1_differences).sort(), [
      "memory_minus_majority",
      "memory_minus_overlap",
      "memory_minus_shuffled",
    ]);
    for (const [key, row] of [["shuffled", "shuffled_baseline"], ["overlap", "overlap_baseline"]]) {
      const d = report.f1_differences[`memory_minus_${key}`];
      // Means of four F1 values in [0, 1], so they agree to float rounding.
      assert(Math.abs(d.diff - (report.f1 - report[row].f1)) < 1e-9, `${key}: ${d.diff}`);
      assert(d.lo <= d.diff && d.diff <= d.hi && d.n === 4, JSON.stringify(d));
    }
  },
);

Deno.test("the shuffled control pairs question i with question i + 1's documents", () => {
  const requests = [0, 1, 2].map((i) => ({ docs: [[10 + i], [20 + i]], prompt: [i] }));
  assertEquals(withNextDocuments(requests), [
    { docs: [[11], [21]], prompt: [0] },
    { docs: [[12], [22]], prompt: [1] },
    { docs: [[10], [20]], prompt: [2] },
  ]);
});

gpuTest("eval:clara refuses a bad QA file with an error naming the example's _id", async () => {
  const { f, model, checkpoint } = await checkpointFixture();
  model.dispose();
  const missing = QA_EXAMPLES.map((e) => ({ ...e }));
  delete (missing[2] as Record<string, unknown>).answer;
  missing[2]._id = "bad-answer";
  const dangling = QA_EXAMPLES.map((e) => ({ ...e }));
  dangling[1] = { ...dangling[1], _id: "bad-fact", supporting_facts: [["Nowhere", 0]] };
  for (
    const [name, records, words] of [
      ["missing.json", missing, ['_id "bad-answer"', '"answer"']],
      ["dangling.json", dangling, ['_id "bad-fact"', '"Nowhere"']],
    ] as const
  ) {
    const path = `${f.dir}/${name}`;
    await Deno.writeTextFile(path, JSON.stringify(records));
    const r = await evalCli([
      "--checkpoint",
      checkpoint,
      "--file",
      path,
      "--majority-from",
      f.train,
    ]);
    assertEquals(r.code, 1);
    for (const w of [path, ...words]) assert(r.stderr.includes(w), `"${r.stderr}" lacks ${w}`);
  }
  const r = await evalCli(["--checkpoint", f.dir, "--file", f.dev, "--majority-from", f.train]);
  assertEquals(r.code, 1);
  assert(r.stderr.includes(`${f.dir}/config.json`), r.stderr);
});

gpuTest(
  "batchMemory gathers each row's documents' memories in order and masks missing slots",
  async () => {
    const { model, tokenizer } = await checkpointFixture();
    model.eval();
    const ids = ["the avon flows north", "marlow is a market town", "thomas hale was born"]
      .map((t) => tokenizer.encode(t, false));
    const { batched, mask, alone } = noGrad(() => {
      const m = batchMemory(model, [[ids[0], ids[1]], [ids[2]]], { frozen: true });
      return { batched: m.memory, mask: m.maskRows, alone: model.compress(ids, m.l) };
    });
    const l = model.memoryCount(Math.max(...ids.map((d) => d.length)));
    const d = model.config.dim;
    assertEquals(batched.shape, [2, 2 * l, d]);
    assertEquals(mask, [new Array(2 * l).fill(1), [
      ...new Array(l).fill(1),
      ...new Array(l).fill(0),
    ]]);
    const [b, a] = [await batched.data(), await alone.data()];
    // Row 0 = [M(doc 0), M(doc 1)], row 1 starts with M(doc 2): the same values, copied.
    assertEquals(Array.from(b.subarray(0, 2 * l * d)), Array.from(a.subarray(0, 2 * l * d)));
    assertEquals(
      Array.from(b.subarray(2 * l * d, 3 * l * d)),
      Array.from(a.subarray(2 * l * d, 3 * l * d)),
    );
    model.dispose();
  },
);

gpuTest("index:clara writes each document's own l memory vectors and a JSONL of ids", async () => {
  const { f, model, tokenizer, checkpoint } = await checkpointFixture();
  const docs = [
    { id: "a", title: "Avon", text: "The Avon is a river." },
    { id: "b", text: "Marlow is a market town where farmers sell apples and cheese every week." },
  ];
  await Deno.writeTextFile(`${f.dir}/docs.jsonl`, docs.map((d) => JSON.stringify(d)).join("\n"));
  const summary = await indexClara(checkpoint, `${f.dir}/docs.jsonl`, `${f.dir}/index`);
  assertEquals(summary.documents, 2);
  const host = readSafetensorsHost(await Deno.readFile(`${f.dir}/index.safetensors`));
  const lines = (await Deno.readTextFile(`${f.dir}/index.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assertEquals(lines.map((l) => [l.row, l.id, l.title]), [[0, "a", "Avon"], [1, "b", ""]]);
  const texts = ["Avon: The Avon is a river.", docs[1].text];
  const counts = texts.map((t) =>
    model.memoryCount(tokenizer.encode(t, false).slice(0, 24).length)
  );
  assertEquals(lines.map((l) => l.l), counts);
  assert(counts[0] !== counts[1], "the fixture should give two different l");
  const lMax = Math.max(...counts), d = model.config.dim;
  assertEquals(host.tensors.memories.shape, [2, lMax, d]);
  const stored = new Float32Array(host.tensors.memories.data.slice().buffer);
  model.eval();
  for (const row of [0, 1]) {
    const ids = tokenizer.encode(texts[row], false).slice(0, 24);
    const alone = noGrad(() => model.compress([ids], counts[row]));
    const expected = await alone.data();
    const got = stored.subarray(row * lMax * d, row * lMax * d + counts[row] * d);
    // Batched with another document of the same l or alone: the same rows, f32 rounding only.
    expected.forEach((v, i) => assert(Math.abs(got[i] - v) <= 1e-5, `${got[i]} vs ${v}`));
    assert(
      stored.subarray(row * lMax * d + counts[row] * d, (row + 1) * lMax * d).every((v) => v === 0),
    );
  }
  model.dispose();
});

Deno.test("stage record readers name the file, line and field of a bad record", () => {
  const good = JSON.stringify({ data_type: "qa", question: ["q"], answers: ["a"], docs: ["d"] });
  assertEquals(parsePretrainRecords("p.jsonl", good + "\n\n").length, 1);
  assertThrows(
    () =>
      parsePretrainRecords("p.jsonl", `${good}\n{"data_type":"qa","question":["q"],"docs":["d"]}`),
    'p.jsonl: line 2: field "answers" must be an array of strings',
  );
  assertThrows(
    () => parsePretrainRecords("p.jsonl", '{"data_type":"summary"}'),
    'p.jsonl: line 1: field "data_type" is "summary"',
  );
  assertThrows(
    () =>
      parsePretrainRecords(
        "p.jsonl",
        JSON.stringify({ data_type: "qa", question: ["q", "r"], answers: ["a"], docs: ["d"] }),
      ),
    "2 questions but 1 answers",
  );
  const ins = { data_type: "instruction", question: "q", docs: ["x", "y"], answer: "a" };
  assertEquals(
    parseInstructionRecords("i.jsonl", JSON.stringify({ ...ins, pos_index: [1] }))[0].pos_index,
    [1],
  );
  assertThrows(
    () => parseInstructionRecords("i.jsonl", JSON.stringify({ ...ins, pos_index: [2] })),
    'i.jsonl: line 1: field "pos_index" must list indices into "docs" (0…1)',
  );
  assertThrows(() => parseInstructionRecords("i.jsonl", "{oops"), "i.jsonl: line 1: not JSON");
});

Deno.test("BM25 ranks the document with the rare query word first; ties keep the order", () => {
  const docs = [
    "the river and the town",
    "the kestrel mill on the river",
    "a town",
    "the river the river the river",
  ];
  assertEquals(bm25Rank("kestrel river", docs)[0], 1);
  assertEquals(bm25Rank("nothing matches", docs), [0, 1, 2, 3]);
  // Term frequency saturates: three "river"s beat one, with the rarer word absent in both.
  const r = bm25Rank("river", docs);
  assert(r.indexOf(3) < r.indexOf(0), `${r}`);
});

Deno.test("selectDocuments: oracle reads all gold documents plus the best distractors, in BM25 order", () => {
  const docs = ["alpha beta", "gamma", "alpha", "delta alpha beta", "epsilon"];
  assertEquals(selectDocuments("alpha beta", docs, [4], 2, "normal"), [0, 3]);
  const oracle = selectDocuments("alpha beta", docs, [4, 1], 3, "oracle");
  assertEquals(oracle.length, 3);
  assert(oracle.includes(4) && oracle.includes(1), `${oracle}`);
  assertEquals(selectDocuments("alpha beta", docs, [4, 1], 3, "oracle")[0], 0);
});

Deno.test("trivial baselines: the majority answer per type and the question-overlap span", () => {
  const m = majorityAnswers([
    { type: "comparison", answer: "yes" },
    { type: "comparison", answer: "Yes." },
    { type: "comparison", answer: "no" },
    { type: "comparison", answer: "YES" },
    { type: "bridge", answer: "Paris" },
    { type: "bridge", answer: "Rome" },
    { type: "bridge", answer: "Rome" },
  ]);
  assertEquals([majorityAnswer(m, "comparison"), majorityAnswer(m, "bridge")], ["yes", "Rome"]);
  // Answers count after SQuAD normalisation: "yes" ×3 is the overall majority.
  assertEquals(majorityAnswer(m, "unseen"), "yes");
  assertThrows(() => majorityAnswers([]), "no training examples");
  const span = overlapSpan("Who designed the Grey Bridge?", [
    "Marlow is a town. The Grey Bridge was designed by Thomas Hale in stone.",
    "Bristol is a city.",
  ]);
  assertEquals(span, "Thomas Hale");
  assertEquals(
    overlapSpan("Where was Thomas Hale born?", ["Thomas Hale was born in Bristol."]),
    "Bristol",
  );
  assertEquals(overlapSpan("anything", []), "");
});
