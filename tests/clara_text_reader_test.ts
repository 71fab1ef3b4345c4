import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import {
  fixtureEvalArgs,
  loggedLosses,
  runTask,
  stage2Fixture,
  stageArgs,
} from "./clara_fixtures.ts";
import { noGrad } from "../core/autograd.ts";
import { tensor } from "../core/tensor.ts";
import { exactMatch } from "../core/metrics/qa.ts";
import { batchText, memoryLosses } from "../tasks/clara/memory_batch.ts";
import { loadMemoryModel } from "../tasks/clara/memory_dir.ts";
import { parseMemoryStageArgs, runMemoryStage } from "../tasks/clara/memory_stages.ts";

const quiet = () => {};

gpuTest(
  "batchText: each row is its documents' token embeddings in order, right-padded and masked",
  async () => {
    const { model } = await stage2Fixture();
    try {
      const rows = [[[5, 6], [7]], [[8]]];
      const t = noGrad(() => batchText(model, rows));
      assertEquals(t.memory.shape, [2, 3, model.config.dim]);
      assertEquals(t.maskRows, [[1, 1, 1], [1, 0, 0]]);
      assertEquals(Array.from(await t.mask.data()), [1, 1, 1, 1, 0, 0]);
      const expected = noGrad(() =>
        model.embed(tensor(Int32Array.from([5, 6, 7, 8]), [1, 4], "i32"))
      );
      const got = await t.memory.data(), want = await expected.data();
      const d = model.config.dim;
      // Row 0 holds tokens 5, 6, 7; row 1 starts with token 8 (the lookup is exact, so ===).
      for (const [slot, token] of [[0, 0], [1, 1], [2, 2], [3, 3]]) {
        for (let j = 0; j < d; j++) assertEquals(got[slot * d + j], want[token * d + j]);
      }
      t.memory.dispose(), t.mask.dispose(), expected.dispose();
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "memoryLosses with reader text: the loss reads the documents' tokens (another document, another loss)",
  async () => {
    const { model } = await stage2Fixture();
    try {
      const example = (doc: number[]) => ({ docs: [doc], prompt: [9, 10], target: [11, 12] });
      const loss = (doc: number[], reader: "memory" | "text") =>
        noGrad(async () => {
          const l = memoryLosses(model, [example(doc)], 0, { frozen: true, reader });
          const v = (await l.ce.data())[0];
          l.ce.dispose(), l.logits.dispose();
          return v;
        });
      const a = [20, 21, 22, 23], b = [30, 31, 32, 33];
      const [ta, tb] = [await loss(a, "text"), await loss(b, "text")];
      assert(Math.abs(ta - tb) > 1e-4, `the text reader ignored its document (${ta} vs ${tb})`);
      assert(Number.isFinite(ta) && ta > 0);
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "train:clara --stage instruct --reader text: trains the generator on tokens, records the reader, and eval:clara --text-checkpoint scores it beside the memories",
  async () => {
    const { f, model, stage2 } = await stage2Fixture();
    model.dispose();
    const out = `${f.dir}/ins-text`;
    const instruct = (reader: string, dir: string, from = stage2) =>
      runMemoryStage(
        parseMemoryStageArgs([
          ...stageArgs(f, "instruct", from),
          "--reader",
          reader,
          "--max-steps",
          "2",
          "--out",
          dir,
        ]),
        quiet,
      );
    const r = await instruct("text", out);
    assertEquals(Object.keys(r.metrics).sort(), ["em", "f1", "f1_shuffled"]);
    // Same model, seed and batches: only what the generator reads differs, and so does the loss.
    await instruct("memory", `${f.dir}/ins-memory`);
    const [textLoss] = loggedLosses(`${out}/train_log.csv`);
    const [memoryLoss] = loggedLosses(`${f.dir}/ins-memory/train_log.csv`);
    assert(Math.abs(textLoss - memoryLoss) > 1e-4, `${textLoss} vs ${memoryLoss}`);
    const text = await loadMemoryModel(`${out}/best`, { readers: ["text"] });
    assertEquals(text.run.reader, "text");
    text.model.dispose();
    // A text reader is never taken for a memory reader, nor a memory reader for a text reader.
    let refused = "";
    await loadMemoryModel(`${out}/best`).catch((e) => refused = (e as Error).message);
    assert(refused.includes(`${out}/best/config.json`) && refused.includes("reads text"), refused);
    // A text reader continues from a text reader (a curriculum); a memory reader may not.
    const again = await instruct("text", `${f.dir}/ins-text-again`, `${out}/best`);
    assertEquals(Object.keys(again.metrics).sort(), ["em", "f1", "f1_shuffled"]);
    const cont = await loadMemoryModel(`${f.dir}/ins-text-again/best`, { readers: ["text"] });
    assertEquals(cont.run.reader, "text");
    cont.model.dispose();
    refused = "";
    await instruct("memory", `${f.dir}/ins-memory-again`, `${out}/best`)
      .catch((e) => refused = (e as Error).message);
    assert(refused.includes(`${out}/best/config.json`) && refused.includes("reads text"), refused);

    const evalArgs = fixtureEvalArgs(stage2, f);
    const predictions = `${f.dir}/text-predictions.jsonl`;
    const ev = await runTask("eval_clara.ts", [
      ...evalArgs,
      "--text-checkpoint",
      `${out}/best`,
      "--shuffled-baseline",
      "--predictions",
      predictions,
      "--json",
    ]);
    assertEquals(ev.code, 0, ev.stderr);
    const report = JSON.parse(ev.stdout);
    assertEquals(report.text_baseline_from, `${out}/best`);
    assertEquals([report.text_baseline.n, report.text_shuffled_baseline.n], [4, 4]);
    const textMargin = report.f1_differences.text_minus_text_shuffled;
    assert(
      Math.abs(textMargin.diff - (report.text_baseline.f1 - report.text_shuffled_baseline.f1)) <
        1e-9,
    );
    assert("memory_minus_text" in report.f1_differences);
    const rows = (await Deno.readTextFile(predictions)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const em = (key: string) => rows.filter((p) => exactMatch(p[key], p.gold)).length / rows.length;
    assertEquals(
      [em("text"), em("text_shuffled")],
      [report.text_baseline.em, report.text_shuffled_baseline.em],
    );

    const swapped = await runTask("eval_clara.ts", [
      ...evalArgs.map((a) => (a === stage2 ? `${out}/best` : a)),
      "--json",
    ]);
    assertEquals(swapped.code, 1);
    assert(swapped.stderr.includes("--text-checkpoint"), swapped.stderr);
    const notText = await runTask("eval_clara.ts", [...evalArgs, "--text-checkpoint", stage2]);
    assertEquals(notText.code, 1);
    assert(notText.stderr.includes("a text reader"), notText.stderr);
  },
);
