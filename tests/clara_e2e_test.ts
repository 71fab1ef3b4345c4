import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { readSafetensorsHost } from "../core/io/safetensors.ts";
import { gpuTest } from "./helpers.ts";
import {
  killMidRun,
  MEMORY,
  QA_EXAMPLES,
  runTask as cli,
  stage2Fixture,
} from "./clara_fixtures.ts";
import { noGrad } from "../core/autograd.ts";
import { tidy } from "../core/scope.ts";
import { recallAtK } from "../core/metrics/qa.ts";
import { bm25Rank } from "../datasets/bm25.ts";
import { qaInstructionRecords } from "../tasks/clara/instruct_data.ts";
import { paragraphDoc } from "../tasks/docs/from_qa.ts";
import { ClaraE2E, E2E_TRAINABLE } from "../tasks/clara/e2e_model.ts";
import { type E2EExample, e2eExample, hostMemories } from "../tasks/clara/e2e_data.ts";
import { e2eLosses } from "../tasks/clara/e2e_training.ts";
import { cachedHostMemories } from "../tasks/clara/memory_cache.ts";
import { e2eTrainable, parseE2EArgs, runE2EStage } from "../tasks/clara/e2e_stage.ts";
import * as ops from "../core/ops/mod.ts";
import { claraSpecial, documentIds, promptIds, targetIds } from "../tasks/clara/tokens.ts";
import { decoderRows } from "../tasks/clara/memory_batch.ts";
import { IGNORE_INDEX } from "../datasets/batching.ts";
import { loadE2EModel } from "../tasks/clara/e2e_dir.ts";

const quiet = () => {};

gpuTest(
  "e2e loss: the forward reads exactly the hard top-k memories; the gradient reaches the reasoner and generator, not the compressor or the memories",
  async () => {
    const { f, model: lm, tokenizer } = await stage2Fixture();
    const model = new ClaraE2E(lm, { queryTokens: 3, rank: 4 });
    model.freeze(/.*/);
    model.unfreeze(E2E_TRAINABLE);
    const examples = (await qaInstructionRecords([f.train])).map((r) =>
      e2eExample(tokenizer, r, MEMORY.docTokens, 4)
    ).filter((e): e is E2EExample => e !== null).slice(0, 3);
    const memories = await hostMemories(lm, examples, MEMORY.docTokens);
    model.train();
    const k = 2;
    const l = await e2eLosses(model, examples, memories, {
      pad: claraSpecial(tokenizer).pad,
      k,
      tau: 0.1,
    });
    // Forward: Z is one-hot per slot, and each slot's memory is exactly a candidate's memory.
    const z = await l.z.data();
    const n = memories[0].n;
    for (let r = 0; r < examples.length * k; r++) {
      const row = Array.from(z.subarray(r * n, (r + 1) * n));
      assertEquals(row.filter((v) => v === 1).length, 1, `slot ${r}: ${row}`);
      assertEquals(row.filter((v) => v === 0).length, n - 1, `slot ${r}: ${row}`);
    }
    const recall = (await l.recall.data())[0];
    let expected = 0;
    examples.forEach((e, r) => {
      const picked = [0, 1].map((j) =>
        Array.from(z.subarray((r * k + j) * n, (r * k + j + 1) * n)).indexOf(1)
      );
      expected += recallAtK(picked, e.gold, k) / examples.length;
    });
    // f32 sums of a few exact fractions.
    assert(Math.abs(recall - expected) < 1e-6, `logged recall ${recall}, expected ${expected}`);
    l.ce.backward();
    const grads = new Map<string, number>();
    for (const [name, p] of model.namedParameters()) {
      grads.set(name, p.grad ? Math.max(...(await p.grad.data()).map(Math.abs)) : 0);
    }
    const nonZero = (re: RegExp) => [...grads].filter(([k, g]) => re.test(k) && g > 0).length;
    assert(nonZero(/\.lora_reasoner\./) > 0, "no gradient reached the reasoner adapter");
    assert(nonZero(/^queries\./) > 0, "no gradient reached the query tokens");
    assert(nonZero(/\.lora_generator\./) > 0, "no gradient reached the generator adapter");
    assertEquals(nonZero(/\.lora_compressor\.|memory_embeddings\./), 0);
    assert(
      model.namedParameters().filter(([k]) => /\.lora_compressor\.|memory_embeddings\./.test(k))
        .every(([, p]) => !p.requiresGrad && p.grad === null),
      "the compressor (which made the memories) is not frozen",
    );
    // The memories are constants of the step: the same host values before and after.
    const again = await hostMemories(lm, examples, MEMORY.docTokens);
    assertEquals(Array.from(again[0].memory), Array.from(memories[0].memory));
    noGrad(() => model.dispose());
  },
);

gpuTest(
  "--reasoner-init compressor: a question's first query embeddings equal its compressor memory; a fresh reasoner's do not; ranks must match",
  async () => {
    const { model: lm, tokenizer } = await stage2Fixture();
    // A trained compressor: non-zero B everywhere, so the copy has something to carry.
    for (const [name, p] of lm.namedParameters()) {
      if (/\.lora_compressor\.B$/.test(name)) {
        p.write(Array.from({ length: p.size }, (_, i) => 0.05 * Math.sin(i + name.length)));
      }
    }
    const prompt = promptIds(tokenizer, "which city hosted the games?");
    const l = 3;
    lm.eval();
    const memory = noGrad(() => lm.compress([prompt], l));
    const queriesOf = (model: ClaraE2E) => noGrad(() => model.queryEmbeddings([prompt]));
    const copied = new ClaraE2E(lm, { queryTokens: l, rank: MEMORY.rank });
    copied.startFromCompressor();
    const want = await memory.data();
    const got = await queriesOf(copied).data();
    // The same kernels over the same rows and weights: only summation order may differ.
    const diff = Math.max(...want.map((v, i) => Math.abs(v - got[i])));
    assert(diff < 1e-5, `query embeddings differ from the compressor memory by ${diff}`);
    const fresh = new ClaraE2E(lm, { queryTokens: l, rank: MEMORY.rank });
    const other = await queriesOf(fresh).data();
    assert(Math.max(...want.map((v, i) => Math.abs(v - other[i]))) > 1e-2, "fresh equals copy");
    assertThrows(
      () => new ClaraE2E(lm, { queryTokens: l, rank: 2 }).startFromCompressor(),
      'adapter "compressor" has rank 4',
    );
    assertThrows(
      () =>
        new ClaraE2E(lm, { queryTokens: MEMORY.memoryTokens + 1, rank: 4 }).startFromCompressor(),
      "needs ≥ 7 learned memory tokens",
    );
    noGrad(() => lm.dispose());
  },
);

/** eval:clara --setting e2e --k 2 --max-new-tokens 3 --json on a checkpoint, plus `extra`. */
function evalE2E(checkpoint: string, file: string, extra: string[] = []) {
  return cli("eval_clara.ts", [
    ...["--checkpoint", checkpoint, "--file", file, "--setting", "e2e"],
    ...["--k", "2", "--max-new-tokens", "3", "--json", ...extra],
  ]);
}

/** train:clara --stage e2e flags of a tiny run on the fixture. */
function e2eArgs(stage2: string, train: string, out: string): string[] {
  return [
    "--stage",
    "e2e",
    "--from",
    stage2,
    "--qa",
    train,
    "--out",
    out,
    "--k",
    "2",
    "--tau",
    "0.1",
    "--query-tokens",
    "3",
    "--rank",
    "4",
    "--answer-tokens",
    "4",
    "--hold-out-every",
    "3",
    "--eval-examples",
    "2",
    "--batch-size",
    "1",
    "--epochs",
    "2",
    "--warmup",
    "2",
    "--lr",
    "1e-2",
    "--save-every",
    "1",
  ];
}

function loggedColumn(path: string, column: string): number[] {
  const [header, ...rows] = Deno.readTextFileSync(path).trim().split("\n");
  const c = header.split(",").indexOf(column);
  assert(c >= 0, `${path} has no ${column} column`);
  return rows.map((r) => Number(r.split(",")[c]));
}

gpuTest(
  "train:clara --stage e2e: resume after a kill logs the uninterrupted losses and Recall@k; eval:clara --setting e2e and lens:clara --json on its output",
  async () => {
    const { f, model, stage2 } = await stage2Fixture();
    model.dispose();
    const out = `${f.dir}/e2e`;
    const full = await runE2EStage(parseE2EArgs(e2eArgs(stage2, f.train, out)), quiet);
    assertEquals(full.steps, 8);
    for (const key of ["f1", "em", "recall_at_1", "recall_at_2", "recall_at_5"]) {
      assert(key in full.metrics, `metrics lack ${key}`);
    }
    // Killed in a child process once 3 steps are logged, then resumed in process.
    const killedOut = `${out}-killed`;
    await killMidRun(e2eArgs(stage2, f.train, killedOut), 2400);
    assert(loggedColumn(`${killedOut}/train_log.csv`, "loss").length < full.steps);
    const resumed = await runE2EStage(
      parseE2EArgs([...e2eArgs(stage2, f.train, killedOut), "--resume"]),
      quiet,
    );
    assertEquals(resumed.steps, full.steps);
    for (const column of ["loss", "recall_at_2"]) {
      assertEquals(
        loggedColumn(`${killedOut}/train_log.csv`, column),
        loggedColumn(`${out}/train_log.csv`, column),
      );
    }
    assertEquals(resumed.metrics, full.metrics);

    // --from an e2e directory continues its reasoner, query tokens and generator: at lr 0 every
    // weight comes out as it went in, and config.json records the chain and the new k.
    const continued = `${out}-continued`;
    const continueArgs = (...extra: string[]) => [
      ...e2eArgs(`${out}/best`, f.train, continued),
      ...["--epochs", "1", "--k", "1", "--lr", "0", ...extra],
    ];
    await runE2EStage(parseE2EArgs(continueArgs()), quiet);
    const weights = async (dir: string) =>
      readSafetensorsHost(await Deno.readFile(`${dir}/model.safetensors`)).tensors;
    const [source, result] = [await weights(`${out}/best`), await weights(`${continued}/best`)];
    assertEquals(Object.keys(result).sort(), Object.keys(source).sort());
    for (const [name, t] of Object.entries(source)) {
      assertEquals(result[name].data, t.data, `${name} changed at lr 0`);
    }
    const continuedRun = JSON.parse(await Deno.readTextFile(`${continued}/best/config.json`));
    assertEquals([continuedRun.k, continuedRun.continuedFrom], [1, [`${out}/best`]]);
    for (const flag of [["--rank", "5"], ["--reasoner-init", "compressor"]]) {
      const e = await assertRejects(
        () => runE2EStage(parseE2EArgs(continueArgs(...flag)), quiet),
        Error,
      );
      assert(e.message.startsWith(`${flag[0]}: ${out}/best is an e2e directory`), e.message);
    }

    // eval:clara --setting e2e: one JSON with both retrievers' Recall@1/2/5 and the EM/F1 rows.
    const r = await evalE2E(`${out}/best`, f.dev, ["--stage2", stage2]);
    assertEquals(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assertEquals([report.n, report.with_gold, report.k, report.setting], [4, 4, 2, "e2e"]);
    assertEquals([report.selection, report.tau], ["ste", 0.1]);
    for (const row of ["e2e", "e2e_generator_bm25", "stage2_bm25"]) {
      assertEquals(report[row].n, 4, row);
      assert(report[row].f1 >= 0 && report[row].f1 <= 1, `${row}.f1 = ${report[row].f1}`);
    }
    for (const row of ["e2e_generator_bm25", "stage2_bm25"]) {
      const d = report.f1_differences[`e2e_minus_${row}`];
      assert(Math.abs(d.diff - (report.e2e.f1 - report[row].f1)) < 1e-9, `${row}: ${d.diff}`);
    }
    // BM25's Recall@k recomputed here from the dev examples' own paragraphs.
    const dev = QA_EXAMPLES.slice(0, 4);
    for (const k of [1, 2, 5]) {
      const want = dev.reduce((s, e) => {
        const docs = e.context.map(([t, s]) => paragraphDoc(t as string, s as string[]));
        const goldTitles = new Set(e.supporting_facts.map(([t]) => t));
        const gold = e.context.flatMap(([t], i) => (goldTitles.has(t as string) ? [i] : []));
        return s + recallAtK(bm25Rank(e.question, docs), gold, k) / dev.length;
      }, 0);
      assert(Math.abs(report.bm25_recall[`recall_at_${k}`] - want) < 1e-12, `BM25 R@${k}`);
      const e2e = report.e2e_recall[`recall_at_${k}`];
      assert(e2e >= 0 && e2e <= 1, `e2e R@${k} = ${e2e}`);
    }
    const { recall_at_1: r1, recall_at_2: r2, recall_at_5: r5 } = report.e2e_recall;
    assert(r1 <= r2 && r2 <= r5 && r5 > 0, `e2e recalls ${r1}, ${r2}, ${r5}`);

    // lens:clara --json: per query token, the top tokens by logit, best first, marked when absent
    // from the question; the first row's best token recomputed here through the LM head.
    const question = QA_EXAMPLES[0].question;
    const lensOut = await cli("lens_clara.ts", [
      "--checkpoint",
      `${out}/best`,
      "--question",
      question,
      "--doc",
      "Kestrel Mill was built by Thomas Hale.",
      "--top",
      "4",
      "--json",
    ]);
    assertEquals(lensOut.code, 0, lensOut.stderr);
    const [lensReport] = JSON.parse(lensOut.stdout);
    assertEquals(lensReport.queries.map((r: { slot: string }) => r.slot), ["Q0", "Q1", "Q2"]);
    assert(lensReport.memory.length > 0, "no memory rows for --doc");
    const { model: trained, tokenizer, run: trainedRun } = await loadE2EModel(`${out}/best`);
    trained.eval();
    const logits = noGrad(() =>
      trained.lm.logits(trained.queryEmbeddings([promptIds(tokenizer, question)]))
    );
    const v = logits.shape[2];
    const row0 = (await logits.data()).subarray(0, v);
    const best = row0.indexOf(Math.max(...row0));
    const first = lensReport.queries[0].tokens;
    assertEquals(first.length, 4);
    assertEquals(first[0].id, best);
    for (let i = 1; i < 4; i++) assert(first[i].logit <= first[i - 1].logit, "not sorted");
    const asked = new Set(tokenizer.encode(question, false));
    for (const t of first) assertEquals(t.absent, !asked.has(t.id), `mark of ${t.token}`);

    // The likelihood ranking recomputed here: each candidate's memories read alone, one row per
    // forward, ranked by the answer's mean −log p (3 answer tokens, as --max-new-tokens 3).
    const docTokens = trainedRun.memoryRun.memory.docTokens;
    const pad = claraSpecial(tokenizer).pad;
    const likelihoodRanks: number[][] = [];
    for (const e of dev) {
      const rows = decoderRows([{
        docs: [],
        prompt: promptIds(tokenizer, e.question),
        target: targetIds(tokenizer, e.answer, 3),
      }], pad);
      const values: number[] = [];
      for (const [title, sentences] of e.context) {
        const doc = documentIds(
          tokenizer,
          paragraphDoc(title as string, sentences as string[]),
          docTokens,
        );
        const nll = noGrad(() =>
          tidy(() => {
            const memory = trained.lm.compress([doc], trained.lm.memoryCount(docTokens));
            const read = trained.lm.readTarget(memory, rows.inputs, rows.padding, {
              promptMask: rows.promptMask,
            });
            return trained.lm.targetNll(read, rows.labels, IGNORE_INDEX);
          })
        );
        values.push((await nll.data())[0]);
        nll.dispose();
      }
      likelihoodRanks.push(values.map((_, i) => i).sort((a, b) => values[a] - values[b] || a - b));
    }
    for (const k of [1, 2, 5]) {
      const want = dev.reduce((s, e, i) => {
        const goldTitles = new Set(e.supporting_facts.map(([t]) => t));
        const gold = e.context.flatMap(([t], j) => (goldTitles.has(t as string) ? [j] : []));
        return s + recallAtK(likelihoodRanks[i], gold, k) / dev.length;
      }, 0);
      const got = report.likelihood_recall[`recall_at_${k}`];
      assert(Math.abs(got - want) < 1e-12, `likelihood R@${k}: ${got} vs ${want}`);
    }
    trained.dispose();
  },
);

Deno.test("train:clara --stage e2e flags: defaults, and errors name the flag", () => {
  const o = parseE2EArgs(["--stage", "e2e"]);
  assertEquals([o.from, o.out, o.k, o.tau, o.queryTokens], [
    "runs/clara-instruct/best",
    "runs/clara-e2e",
    5,
    0.02,
    8,
  ]);
  assertEquals([o.selection, o.unfreezeCompressor, o.reasonerInit], ["ste", false, "fresh"]);
  assertThrows(
    () => parseE2EArgs(["--stage", "e2e", "--reasoner-init", "random"]),
    "--reasoner-init",
  );
  const ablation = parseE2EArgs(["--stage", "e2e", "--selection", "soft", "--unfreeze-compressor"]);
  assertEquals([ablation.selection, ablation.unfreezeCompressor], ["soft", true]);
  assertThrows(() => parseE2EArgs(["--stage", "e2e", "--selection", "topk"]), "--selection");
  assertThrows(() => parseE2EArgs(["--stage", "e2e", "--tau", "0"]), "--tau");
  assertThrows(() => parseE2EArgs(["--stage", "e2e", "--k", "0"]), "--k");
  assertThrows(() => parseE2EArgs(["--stage", "e2e", "--k", "two"]), "--k");
  assertThrows(() => parseE2EArgs(["--stage", "instruct"]), "--stage");
});

gpuTest(
  "e2e selection modes: soft reads the softmax mixture and trains the reasoner; hard gives the reasoner exactly no gradient",
  async () => {
    const { f, model: lm, tokenizer } = await stage2Fixture();
    const model = new ClaraE2E(lm, { queryTokens: 3, rank: 4 });
    e2eTrainable(model, false);
    const examples = (await qaInstructionRecords([f.train])).map((r) =>
      e2eExample(tokenizer, r, MEMORY.docTokens, 4)
    ).filter((e): e is E2EExample => e !== null).slice(0, 3);
    const memories = await hostMemories(lm, examples, MEMORY.docTokens);
    model.train();
    const k = 2, tau = 0.5;
    const reasonerGrads = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const [name, p] of model.namedParameters()) {
        if (/\.lora_reasoner\.|^queries\./.test(name)) {
          out.push(p.grad ? Math.max(...(await p.grad.data()).map(Math.abs)) : 0);
        }
      }
      return out;
    };
    const generatorGrad = async (): Promise<number> => {
      let m = 0;
      for (const [name, p] of model.namedParameters()) {
        if (/\.lora_generator\./.test(name) && p.grad) {
          m = Math.max(m, ...(await p.grad.data()).map(Math.abs));
        }
      }
      return m;
    };
    const pad = claraSpecial(tokenizer).pad;

    const soft = e2eLosses(model, examples, memories, { pad, k, tau, selection: "soft" });
    // Z is softTopK of the step's own scores (the op is checked against f64 in topk_test.ts),
    // and the memories read are Σ_i Z_ji · M_i, recomputed here on the host.
    const z = await soft.z.data();
    const want = noGrad(() => ops.softTopK(soft.scores.detach(), k, tau));
    assertEquals(Array.from(z), Array.from(await want.data()));
    want.dispose();
    const { n, l, d } = memories[0];
    assert(z.some((v) => v > 0.01 && v < 0.99), "the soft selection is one-hot");
    const read = await soft.memory.data();
    for (let r = 0; r < examples.length; r++) {
      for (let j = 0; j < k; j++) {
        for (let t = 0; t < l * d; t++) {
          let s = 0;
          for (let c = 0; c < n; c++) {
            s += z[(r * k + j) * n + c] * memories[r].memory[c * l * d + t];
          }
          // f32 sums of n = 10 products of magnitude ≤ a few units: 1e-5 absolute.
          const got = read[((r * k + j) * l) * d + t];
          assert(Math.abs(got - s) < 1e-5, `row ${r} slot ${j} value ${t}: ${got} vs ${s}`);
        }
      }
    }
    soft.ce.backward();
    assert((await reasonerGrads()).some((g) => g > 0), "soft: no gradient reached the reasoner");
    for (const [, p] of model.namedParameters()) {
      p.grad?.dispose();
      p.grad = null;
    }

    const hard = e2eLosses(model, examples, memories, { pad, k, tau, selection: "hard" });
    const hz = await hard.z.data();
    for (let r = 0; r < examples.length * k; r++) {
      const row = Array.from(hz.subarray(r * n, (r + 1) * n));
      assertEquals(row.filter((v) => v === 1).length, 1, `hard slot ${r}: ${row}`);
    }
    hard.ce.backward();
    assertEquals(await reasonerGrads(), (await reasonerGrads()).map(() => 0));
    assert(await generatorGrad() > 0, "hard: no gradient reached the generator");
    noGrad(() => model.dispose());
  },
);

gpuTest(
  "--unfreeze-compressor: stage 3 trains exactly the reasoner, query tokens, generator and compressor, and the loss reaches the compressor",
  async () => {
    const { f, model: lm, tokenizer } = await stage2Fixture();
    const model = new ClaraE2E(lm, { queryTokens: 3, rank: 4 });
    const all = model.namedParameters().map(([name]) => name);
    const trainable = () =>
      model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    const reasoner = all.filter((n) => /\.lora_reasoner\./.test(n));
    const generator = all.filter((n) => /\.lora_generator\./.test(n));
    const compressor = all.filter((n) => /\.lora_compressor\./.test(n));
    const queries = all.filter((n) => /^queries\./.test(n));
    const memoryTokens = all.filter((n) => /^lm\.memory_embeddings\./.test(n));
    for (
      const [what, set] of Object.entries({
        reasoner,
        generator,
        compressor,
        queries,
        memoryTokens,
      })
    ) {
      assert(set.length > 0, `no ${what} parameters named`);
    }
    e2eTrainable(model, false);
    assertEquals(trainable().sort(), [...reasoner, ...generator, ...queries].sort());
    e2eTrainable(model, true);
    assertEquals(
      trainable().sort(),
      [...reasoner, ...generator, ...queries, ...compressor, ...memoryTokens].sort(),
    );
    assert(trainable().length < all.length, "the base backbone is trainable");

    const examples = (await qaInstructionRecords([f.train])).map((r) =>
      e2eExample(tokenizer, r, MEMORY.docTokens, 4)
    ).filter((e): e is E2EExample => e !== null).slice(0, 2);
    // Memories encoded in the step (null host memories): the same values as the frozen ones. In
    // eval mode, so that dropout (0.1 in the fixture) draws nothing.
    const frozen = await hostMemories(lm, examples, MEMORY.docTokens);
    model.eval();
    const pad = claraSpecial(tokenizer).pad;
    const losses = e2eLosses(model, examples, null, {
      pad,
      k: 2,
      tau: 0.1,
      docTokens: MEMORY.docTokens,
    });
    const fromHost = e2eLosses(model, examples, frozen, { pad, k: 2, tau: 0.1 });
    // Same compressor, same inputs: the step's loss equals the host-memory loss up to f32
    // reduction order (the memories round-trip through the host unchanged).
    const [a, b] = [(await losses.ce.data())[0], (await fromHost.ce.data())[0]];
    assert(Math.abs(a - b) <= 1e-5 * Math.abs(b), `encoded-in-step loss ${a} vs host ${b}`);
    losses.ce.backward();
    for (const name of [...compressor, ...memoryTokens]) {
      const p = model.namedParameters().find(([n]) => n === name)![1];
      assert(p.grad !== null, `no gradient reached ${name}`);
    }
    let max = 0;
    for (const name of compressor) {
      const p = model.namedParameters().find(([n]) => n === name)![1];
      max = Math.max(max, ...(await p.grad!.data()).map(Math.abs));
    }
    assert(max > 0, "the compressor's gradient is zero");
    noGrad(() => model.dispose());
  },
);

gpuTest(
  "--selection soft and --unfreeze-compressor are recorded in config.json and eval:clara --setting e2e reads the selection back",
  async () => {
    const { f, model, stage2 } = await stage2Fixture();
    model.dispose();
    const out = `${f.dir}/e2e-soft`;
    const args = [
      ...e2eArgs(stage2, f.train, out),
      "--selection",
      "soft",
      "--unfreeze-compressor",
      "--max-steps",
      "2",
    ];
    const result = await runE2EStage(parseE2EArgs(args), quiet);
    assertEquals(result.steps, 2);
    const config = JSON.parse(await Deno.readTextFile(`${out}/best/config.json`));
    assertEquals([config.selection, config.unfreezeCompressor, config.tau], ["soft", true, 0.1]);
    const r = await evalE2E(`${out}/best`, f.dev);
    assertEquals(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assertEquals([report.selection, report.e2e.n], ["soft", 4]);
    // A bad selection in config.json is refused with the file and field named.
    config.selection = "mixture";
    await Deno.writeTextFile(`${out}/best/config.json`, JSON.stringify(config));
    const bad = await evalE2E(`${out}/best`, f.dev);
    assertEquals(bad.code, 1);
    assert(/config\.json: "selection" must be one of/.test(bad.stderr), bad.stderr);
  },
);

gpuTest(
  "--memory-cache: the cached memories equal fresh ones, are read back, and a file from another compressor is rebuilt",
  async () => {
    const { f, model: lm, tokenizer } = await stage2Fixture();
    const examples = (await qaInstructionRecords([f.train])).map((r) =>
      e2eExample(tokenizer, r, MEMORY.docTokens, 4)
    ).filter((e): e is E2EExample => e !== null).slice(0, 3);
    const dir = `${f.dir}/cache`;
    const lines: string[] = [];
    const log = (s: string) => lines.push(s);
    const fresh = await hostMemories(lm, examples, MEMORY.docTokens);
    const written = await cachedHostMemories(lm, examples, MEMORY.docTokens, dir, log);
    const read = await cachedHostMemories(lm, examples, MEMORY.docTokens, dir, log);
    assert(/written to/.test(lines[0]) && /read from/.test(lines[1]), lines.join("\n"));
    for (const got of [written, read]) {
      assertEquals(got.map((m) => [m.n, m.l, m.d]), fresh.map((m) => [m.n, m.l, m.d]));
      got.forEach((m, i) => {
        assertEquals(Array.from(m.memory), Array.from(fresh[i].memory));
        assertEquals(Array.from(m.means), Array.from(fresh[i].means));
      });
    }
    // Another compressor (one memory-token vector changed) gives other memories: the file is
    // not trusted, it is rebuilt with this compressor's memories.
    const [, token] = lm.namedParameters().find(([n]) => /^memory_embeddings\./.test(n))!;
    token.write(new Float32Array(token.size).fill(0.5));
    const other = await cachedHostMemories(lm, examples, MEMORY.docTokens, dir, log);
    assert(/another compressor/.test(lines[2]), lines.join("\n"));
    assert(
      other[0].memory.some((v, i) => v !== fresh[0].memory[i]),
      "the changed compressor gave the old memories",
    );
    assertEquals(
      Array.from(other[1].memory),
      Array.from((await hostMemories(lm, examples, MEMORY.docTokens))[1].memory),
    );
    noGrad(() => lm.dispose());
  },
);
