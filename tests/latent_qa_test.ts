import { assert, assertEquals } from "./assert.ts";
import { gpuTest, withTempDir } from "./helpers.ts";
import { metrics, noGrad, ops, type Tensor, tensor, tidy, zeros } from "../mod.ts";
import { copyMixtureLogProbs } from "../core/nn/pointer.ts";
import { type LatentQaConfig, LatentQaModel } from "../core/models/latent_qa.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { optimizerStep, type StepContext, Trainer, type TrainingTask } from "../core/train/mod.ts";
import { parseMultiHopJson } from "../datasets/multihop_qa.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { collateQa } from "../tasks/latent_qa/batch.ts";
import {
  type QaExample,
  type QaLengths,
  qaSpecialIds,
  tokenizeQaExample,
} from "../tasks/latent_qa/examples.ts";
import { latentQaLosses } from "../tasks/latent_qa/objective.ts";
import { GROUP_NAMES, type GroupRates, latentQaTrainingTask } from "../tasks/latent_qa/training.ts";
import { evalLatentQa } from "../tasks/eval_latent_qa.ts";

const WORDS = ["city", "river", "born", "founded", "capital", "north", "king", "year", "film"];

/** `n` HotpotQA-format records over invented facts; the answer sits in a supporting sentence. */
function syntheticHotpot(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const w = (k: number) => WORDS[(i + k) % WORDS.length];
    const a = `Alpha ${w(0)}`, b = `Beta ${w(1)}`;
    const year = String(1800 + i);
    return {
      _id: `q${i}`,
      question: `When was the ${w(2)} of ${a} founded?`,
      answer: year,
      type: "bridge",
      level: "easy",
      supporting_facts: [[a, 1], [b, 0]],
      context: [
        [a, [`${a} is a ${w(3)} in the ${w(4)}.`, `Its ${w(2)} is ${b}.`]],
        [b, [`${b} was founded in ${year}.`, `It lies by a ${w(5)}.`]],
        [`Gamma ${w(6)}`, [`Gamma is a ${w(7)} ${w(8)}.`]],
      ],
    };
  });
}

function tinyTokenizer(records: Record<string, unknown>[], extra: string[] = []): TextTokenizer {
  const texts = records.flatMap((r) => [
    String(r.question),
    String(r.answer),
    ...(r.context as [string, string[]][]).map(([t, s]) => `${t}: ${s.join(" ")}`),
  ]);
  return new TextTokenizer(trainWordPiece([...texts, ...extra], { vocabSize: 160 }));
}

const LENGTHS: QaLengths = { maxContext: 64, maxSource: 48, maxQuestion: 16, maxAnswer: 6 };

function tinyConfig(kind: "latent" | "baseline", vocabSize: number): LatentQaConfig {
  return {
    kind,
    stack: {
      vocabSize: Math.ceil(vocabSize / 8) * 8,
      dim: 16,
      heads: 2,
      layers: 1,
      hidden: 32,
      maxLength: 64,
      positions: "rotary",
      seed: 3,
    },
    latents: 4,
    selectorLayers: 2,
    selectorHeads: 2,
    selectorDropout: 0.1,
  };
}

function tinyExamples(n: number): { tokenizer: TextTokenizer; examples: QaExample[] } {
  const records = syntheticHotpot(n);
  const tokenizer = tinyTokenizer(records);
  const parsed = parseMultiHopJson("synthetic.json", JSON.stringify(records));
  return { tokenizer, examples: parsed.map((e) => tokenizeQaExample(e, tokenizer, LENGTHS)) };
}

/** The training task over `examples` with groups in GROUP_NAMES order, batches of 2. */
function tinyTask(
  model: LatentQaModel,
  optimizer: AdamW,
  tokenizer: TextTokenizer,
  examples: QaExample[],
  rates: GroupRates,
  freezeSteps: number,
): TrainingTask<number[]> {
  return latentQaTrainingTask({
    model,
    optimizer,
    groupIndex: { latent: 0, gate: 1, encoder: 2, decoder: 3 },
    rates,
    freezeSteps,
    tokenizer,
    special: qaSpecialIds(tokenizer),
    train: examples,
    val: examples,
    batchSize: 2,
    seed: 1,
    auxWeight: 1,
    maxAnswer: 6,
    mixedPrecision: false,
    saveBest: () => Promise.resolve(),
  });
}

Deno.test("support mask lines up with the tokens: multi-piece title, truncated context", () => {
  const title = "Zorblaxian Quetzalpur";
  const record = {
    _id: "x1",
    question: "Who ruled the Zorblaxian Quetzalpur?",
    answer: "king otto",
    type: "bridge",
    level: "easy",
    supporting_facts: [[title, 1], ["Otto", 0]],
    context: [
      [title, ["The river is long.", "King Otto ruled the city."]],
      ["Otto", ["Otto was a king of the north river city and ruled for many long years."]],
    ],
  };
  // A vocabulary that knows the sentence words but not the title's: the title splits into pieces.
  const corpus = Array.from(
    { length: 4 },
    () =>
      "the river is long king otto ruled the city otto was a king of the north river city and " +
      "ruled for many long years who zorbl axian quetz alpur context question : . ?",
  );
  const tokenizer = new TextTokenizer(trainWordPiece(corpus, { vocabSize: 120 }));
  assert(tokenizer.tokenize(title, false).length >= 3, "the title tokenizes into several pieces");
  const [example] = parseMultiHopJson("hand.json", JSON.stringify([record]));
  const sentences = [
    `${title}: The river is long.`,
    `${title}: King Otto ruled the city.`,
    "Otto: Otto was a king of the north river city and ruled for many long years.",
  ].map((s) => tokenizer.encode(s, false));
  const [n0, n1, n2] = sentences.map((s) => s.length);
  // Cut inside the third (supporting) sentence.
  const maxContext = n0 + n1 + 5;
  assert(n2 > 5, "the cut falls inside the last sentence");
  const qa = tokenizeQaExample(example, tokenizer, { ...LENGTHS, maxContext, maxSource: 30 });
  assertEquals(qa.context.length, maxContext);
  assertEquals(qa.support.length, maxContext);
  assertEquals(qa.context, [...sentences[0], ...sentences[1], ...sentences[2].slice(0, 5)]);
  const expected = [
    ...new Array(n0).fill(0),
    ...new Array(n1).fill(1),
    ...new Array(5).fill(1),
  ];
  assertEquals(qa.support, expected);
  // The masked tokens read back as exactly the supporting sentence, title pieces included.
  const on = qa.context.filter((_, i) => qa.support[i] === 1).slice(0, n1);
  // (WordPiece decoding puts a space before punctuation, so spaces are not compared.)
  const squeeze = (t: string) => t.replace(/\s+/g, "");
  assertEquals(
    squeeze(tokenizer.decode(on)),
    squeeze(`${title}: King Otto ruled the city.`.toLowerCase()),
  );
  assertEquals(qa.source.length, 30, "the baseline source is cut to maxSource");
  const prefix = [...tokenizer.encode(`question: ${record.question}`, false)];
  assertEquals(qa.source.slice(0, prefix.length), prefix);
  assertEquals(qa.sourceContext, 30 - prefix.length - tokenizer.encode("context:", false).length);
});

gpuTest(
  "closed gate: the initial output equals the question-only model's, and the gate can open",
  async () => {
    const { tokenizer, examples } = tinyExamples(3);
    const special = qaSpecialIds(tokenizer);
    const model = new LatentQaModel(tinyConfig("latent", tokenizer.vocabSize));
    try {
      assertEquals(Array.from(await model.gate!.gate.data()), [0]);
      model.eval();
      // The same questions over other contexts (the examples' contexts rotated).
      const other = examples.map((e, i) => ({ ...e, context: examples[(i + 1) % 3].context }));
      const logitsOf = (rows: QaExample[]) =>
        noGrad(() =>
          tidy(() => {
            const b = collateQa(rows, "latent", special);
            return model.forward(b.input, b.targetIn, b.targetPadding).logits;
          })
        );
      const questionOnly = noGrad(() =>
        tidy(() => {
          // The plain encoder–decoder on the question alone, its memory followed by the
          // L latent slots holding nothing (what tanh(0)·latents is).
          const b = collateQa(examples, "latent", special);
          const s2s = model.seq2seq;
          const q = s2s.encoder.forward(b.input.source, b.input.sourcePadding);
          const [rows, , d] = q.shape;
          const memory = ops.concat([q, zeros([rows, 4, d])], 1);
          const padding = ops.concat([b.input.sourcePadding, ops.add(zeros([rows, 4]), 1)], 1);
          return s2s.decode(b.targetIn, memory, padding, b.targetPadding);
        })
      );
      const [a, c, ref] = [logitsOf(examples), logitsOf(other), questionOnly];
      const [av, cv, rv] = [await a.data(), await c.data(), await ref.data()];
      assertEquals(Array.from(av), Array.from(rv), "equal to the question-only model");
      assertEquals(Array.from(cv), Array.from(rv), "the context cannot reach the output yet");
      for (const t of [a, c, ref]) t.dispose();
      // The gate receives a gradient, so training can open it.
      model.train();
      const grad = tidy(() => {
        const [loss] = latentQaLosses(model, collateQa(examples, "latent", special), 0);
        loss.backward();
        return model.gate!.gate.grad!.detach();
      });
      const [g] = await grad.data();
      assert(Number.isFinite(g) && Math.abs(g) > 0, `gate gradient ${g}`);
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "copy model, closed gate: the context reaches neither the logits nor the copy weights",
  async () => {
    const { tokenizer, examples } = tinyExamples(3);
    const special = qaSpecialIds(tokenizer);
    const model = new LatentQaModel({ ...tinyConfig("latent", tokenizer.vocabSize), copy: true });
    try {
      model.eval();
      const other = examples.map((e, i) => ({ ...e, context: examples[(i + 1) % 3].context }));
      const read = async (rows: QaExample[]) => {
        const out = noGrad(() =>
          tidy(() => {
            const b = collateQa(rows, "latent", special);
            const { logits, copy } = model.forward(b.input, b.targetIn, b.targetPadding);
            return {
              logits,
              weights: copy!.source.weights,
              nll: latentQaLosses(model, b, 0)[0],
              s: b.input.source.shape[1],
            };
          })
        );
        const r = {
          logits: await out.logits.data(),
          weights: await out.weights.data(),
          shape: out.weights.shape,
          nll: (await out.nll.data())[0],
          s: out.s,
        };
        for (const t of [out.logits, out.weights, out.nll]) t.dispose();
        return r;
      };
      const a = await read(examples), c = await read(other);
      assertEquals(Array.from(a.logits), Array.from(c.logits), "logits do not see the context");
      const [b, t, p] = a.shape;
      for (const w of [a, c]) {
        for (let r = 0; r < b * t; r++) {
          let onContext = 0;
          for (let j = w.s; j < p; j++) onContext += w.weights[r * p + j];
          // The latents' pointer scores carry log(tanh²(0) + 1e-12): their mass is ~1e-12 · L.
          assert(onContext < 1e-10, `copy weight through the latents ${onContext}`);
        }
      }
      assert(Math.abs(a.nll - c.nll) <= 1e-6 * Math.abs(a.nll), `nll ${a.nll} vs ${c.nll}`);
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "copy generation: a switch set to copy and a flat pointer repeat the source's commonest token",
  async () => {
    const { tokenizer, examples } = tinyExamples(2);
    const special = qaSpecialIds(tokenizer);
    const model = new LatentQaModel({ ...tinyConfig("baseline", tokenizer.vocabSize), copy: true });
    try {
      model.eval();
      const head = model.pointer!;
      head.query.weight.write(new Float32Array(head.query.weight.size));
      head.query.bias!.write(new Float32Array(head.query.bias!.size));
      head.gen.weight.write(new Float32Array(head.gen.weight.size));
      head.gen.bias!.write([-30]);
      const input = tidy(() => collateQa(examples, "baseline", special).input);
      const { tokens } = await model.generate(input, {
        bos: special.bos,
        eos: special.eos,
        maxNewTokens: 3,
      });
      examples.forEach((e, r) => {
        const counts = new Map<number, number>();
        for (const id of e.source) counts.set(id, (counts.get(id) ?? 0) + 1);
        const top = Math.max(...counts.values());
        const commonest = [...counts].filter(([, n]) => n === top).map(([id]) => id);
        assert(commonest.length === 1, "the fixture has one commonest source token per row");
        assertEquals(tokens[r], [commonest[0], commonest[0], commonest[0]], `row ${r}`);
      });
      for (const t of Object.values(input)) t?.dispose();
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "aux loss equals −log of the hand-computed support mass, rows without support left out",
  async () => {
    const { tokenizer, examples } = tinyExamples(3);
    // Row 2 keeps no supporting token: its support is cut away.
    const cut = { ...examples[2], support: examples[2].support.map(() => 0) };
    const rows = [examples[0], examples[1], cut];
    const special = qaSpecialIds(tokenizer);
    const model = new LatentQaModel(tinyConfig("latent", tokenizer.vocabSize)).eval();
    try {
      const { terms, attn } = noGrad(() =>
        tidy(() => {
          const batch = collateQa(rows, "latent", special);
          const t = latentQaLosses(model, batch, 1);
          const { attn } = model.encode(batch.input);
          return { terms: ops.concat(t.map((x) => x.reshape([1])), 0), attn: attn! };
        })
      );
      const [b, l, c] = attn.shape;
      const w = await attn.data();
      const [total, ce, aux, mass] = await terms.data();
      let logSum = 0, massSum = 0;
      for (let r = 0; r < 2; r++) {
        for (let k = 0; k < l; k++) {
          let m = 0;
          rows[r].support.forEach((s, t) => (m += s * w[(r * l + k) * c + t]));
          logSum += Math.log(m);
          massSum += m;
        }
      }
      assertEquals(b, 3);
      // f32 sums of ≤ 64 products and a log: 1e-5 relative is ~100× their rounding error.
      const want = -logSum / (2 * l);
      assert(Math.abs(aux - want) <= 1e-5 * Math.abs(want), `aux ${aux} vs ${want}`);
      assert(Math.abs(mass - massSum / (2 * l)) <= 1e-5, `mass ${mass} vs ${massSum / (2 * l)}`);
      assert(Math.abs(total - (ce + aux)) <= 1e-5 * Math.abs(total), "total = ce + 1·aux");
      attn.dispose();
      terms.dispose();
    } finally {
      model.dispose();
    }
  },
);

gpuTest(
  "parameter groups: each gets its own learning rate; frozen groups do not move at first",
  async () => {
    const { tokenizer, examples } = tinyExamples(4);
    const model = new LatentQaModel(tinyConfig("latent", tokenizer.vocabSize));
    const groups = model.parameterGroups();
    const all = model.namedParameters().length;
    assertEquals(GROUP_NAMES.reduce((n, g) => n + groups[g].length, 0), all, "a partition");
    const rates = { latent: 0.01, gate: 0.05, encoder: 0.002, decoder: 0.0005 };
    const optimizer = new AdamW(GROUP_NAMES.map((g) => ({ params: groups[g], lr: rates[g] })), {
      lr: 1,
    });
    const task = tinyTask(model, optimizer, tokenizer, examples, rates, 1);
    const snapshot = async () =>
      await Promise.all(GROUP_NAMES.map(async (g) => Array.from(await groups[g][0].data())));
    const step = async (s: number) => {
      const ctx = { step: s, totalSteps: 4, progress: s / 4, epoch: 0 };
      task.beforeStep!(ctx);
      const lrs = GROUP_NAMES.map((_, i) => optimizer.currentLr(i));
      const before = await snapshot();
      const out = tidy(() =>
        optimizerStep(
          { params: model.parameters(), optimizer, clipNorm: 1 },
          [() => task.loss([0, 1], ctx)],
        )
      );
      await out.data();
      out.dispose();
      const after = await snapshot();
      return { lrs, moved: before.map((b, i) => b.some((x, j) => x !== after[i][j])) };
    };
    try {
      const first = await step(0);
      assertEquals(first.lrs, [0.01, 0.05, 0, 0], "step 0: only the latent modules learn");
      assertEquals(first.moved, [true, true, false, false]);
      const second = await step(1);
      assertEquals(second.lrs, [0.01, 0.05, 0.002, 0.0005]);
      assertEquals(second.moved, [true, true, true, true]);
      assertEquals(
        task.logValues!({ step: 1, totalSteps: 4, progress: 0.25, epoch: 0 }),
        { lr_latent: 0.01, lr_gate: 0.05, lr_encoder: 0.002, lr_decoder: 0.0005 },
      );
    } finally {
      model.dispose();
      optimizer.dispose();
    }
  },
);

gpuTest("a non-finite loss skips its update, is counted, and training goes on", async () => {
  await withTempDir(async (dir) => {
    const { tokenizer, examples } = tinyExamples(6);
    const model = new LatentQaModel(tinyConfig("latent", tokenizer.vocabSize));
    const groups = model.parameterGroups();
    const optimizer = new AdamW(GROUP_NAMES.map((g) => ({ params: groups[g] })), { lr: 1e-3 });
    const rates = { latent: 1e-3, gate: 1e-3, encoder: 1e-3, decoder: 1e-3 };
    const inner = tinyTask(model, optimizer, tokenizer, examples, rates, 0);
    const task = {
      ...inner,
      evaluate: undefined,
      loss(batch: number[], ctx: StepContext): Tensor[] {
        const terms = inner.loss(batch, ctx);
        return ctx.step === 1 ? [ops.mul(terms[0], NaN), ...terms.slice(1)] : terms;
      },
    };
    const trainer = new Trainer(task, {
      out: dir,
      label: "test",
      epochs: 1,
      seed: 1,
      saveEvery: 1,
      log: () => {},
      progressWrite: () => {},
    });
    const fit = await trainer.fit();
    assertEquals(fit.steps, 3);
    assertEquals(fit.nonFiniteSteps, 1);
    assertEquals(await optimizer.skippedSteps(), 1);
    assertEquals(await optimizer.appliedSteps(), 2);
    const losses = column(`${dir}/train_log.csv`, "loss");
    assertEquals([...losses.keys()], [1, 2, 3], "every step is logged");
    assert(Number.isNaN(Number(losses.get(2))), `step 2 logs its loss as NaN: ${losses.get(2)}`);
    assert(Number.isFinite(Number(losses.get(3))), "the step after it trains normally");
    const weights = await model.seq2seq.head.weight.data();
    assert(weights.every(Number.isFinite), "weights stay finite");
    trainer.dispose();
    model.dispose();
    optimizer.dispose();
  });
});

/** Args of a tiny train:latent-qa run over the fixture files in `dir`. */
function trainArgs(dir: string, out: string, extra: string[] = []): string[] {
  return [
    "run",
    "--allow-all",
    new URL("../tasks/train_latent_qa.ts", import.meta.url).pathname,
    "--model",
    "latent",
    "--train",
    `${dir}/train.json`,
    "--val",
    `${dir}/val.json`,
    "--out",
    out,
    "--init",
    "none",
    "--glove",
    "none",
    "--synthetic",
    "0",
    "--vocab-size",
    "160",
    "--dim",
    "16",
    "--heads",
    "2",
    "--layers",
    "1",
    "--hidden",
    "32",
    "--latents",
    "4",
    "--selector-heads",
    "2",
    "--max-context",
    "64",
    "--max-source",
    "48",
    "--max-question",
    "16",
    "--max-answer",
    "6",
    "--batch-size",
    "2",
    "--epochs",
    "2",
    "--warmup",
    "2",
    "--save-every",
    "1",
    ...extra,
  ];
}

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`train:latent-qa failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function column(csvPath: string, name: string): Map<number, string> {
  const [header, ...rows] = Deno.readTextFileSync(csvPath).trim().split("\n");
  const cols = header.split(",");
  const step = cols.indexOf("step"), at = cols.indexOf(name);
  return new Map(rows.map((r) => r.split(",")).map((c) => [Number(c[step]), c[at]]));
}

gpuTest(
  "train:latent-qa killed after a checkpoint resumes to the same losses and weights",
  async () => {
    await withTempDir(async (dir) => {
      const records = syntheticHotpot(10);
      Deno.writeTextFileSync(`${dir}/train.json`, JSON.stringify(records.slice(0, 8)));
      Deno.writeTextFileSync(`${dir}/val.json`, JSON.stringify(records.slice(8)));
      await run(trainArgs(dir, `${dir}/reference`));
      const reference = column(`${dir}/reference/train_log.csv`, "loss");
      const last = Math.max(...reference.keys());
      assertEquals(last, 8, "2 epochs of 4 batches");

      const child = new Deno.Command(Deno.execPath(), {
        args: trainArgs(dir, `${dir}/killed`),
        stdout: "null",
        stderr: "null",
      }).spawn();
      let killedAt = 0;
      for (let i = 0; i < 2400 && !killedAt; i++) {
        await new Promise((r) => setTimeout(r, 25));
        try {
          const state = JSON.parse(Deno.readTextFileSync(`${dir}/killed/last/trainer_state.json`));
          if (state.step >= 2 && state.step < last) killedAt = state.step;
        } catch { /* not written yet */ }
      }
      child.kill("SIGKILL");
      await child.status;
      assert(killedAt > 0, "the run finished or never checkpointed before it could be killed");

      const stdout = await run(trainArgs(dir, `${dir}/killed`, ["--resume"]));
      const loaded = /resumed from .*step (\d+)/.exec(stdout);
      assert(loaded, `the resumed run says which checkpoint it loaded:\n${stdout}`);
      const from = Number(loaded[1]);
      assert(from >= killedAt && from < last, `resumed at step ${from}, seen at ${killedAt}`);
      const resumed = column(`${dir}/killed/train_log.csv`, "loss");
      for (let step = from + 1; step <= last; step++) {
        assertEquals(resumed.get(step), reference.get(step), `loss of step ${step} after resuming`);
      }
      for (const file of ["last/model.safetensors", "best/model.safetensors", "epochs.csv"]) {
        assertEquals(
          Deno.readFileSync(`${dir}/killed/${file}`),
          Deno.readFileSync(`${dir}/reference/${file}`),
          `${file} equal to the uninterrupted run's`,
        );
      }
      const { report } = await evalLatentQa([
        "--checkpoint",
        `${dir}/reference/best`,
        "--file",
        `${dir}/val.json`,
        "--json",
        "--predictions",
        `${dir}/predictions.jsonl`,
      ]);
      assertEquals(report.n, 2);
      const lines = Deno.readTextFileSync(`${dir}/predictions.jsonl`).trim().split("\n")
        .map((l) => JSON.parse(l));
      assertEquals(lines.map((l) => l.prediction), report.predictions);
      assertEquals(
        lines.map((l) => Object.keys(l)),
        Array(2).fill(["id", "question", "answer", "prediction"]),
      );
      assertEquals(report.kind, "latent");
      assert(report.f1 >= 0 && report.f1 <= 1 && report.em >= 0 && report.em <= report.f1 + 1e-9);
      assert(report.support_mass > 0 && report.support_mass <= 1, `mass ${report.support_mass}`);
      const given = report.predictions.filter((p) =>
        metrics.normalizeAnswer(p) === report.commonest_answer
      );
      assertEquals(report.commonest_share, given.length / report.n);
    });
  },
);

for (const kind of ["baseline", "latent"] as const) {
  gpuTest(
    `copy generation with the follow bonus (${kind}): cached greedy tokens are the teacher-forced mixture's argmax, with its scores`,
    async () => {
      const { tokenizer, examples } = tinyExamples(2);
      const special = qaSpecialIds(tokenizer);
      const config = { ...tinyConfig(kind, tokenizer.vocabSize), copy: true, copyFollow: true };
      const model = new LatentQaModel(config);
      try {
        model.eval();
        assert(model.pointer!.follow !== null, "the head has its follow bonus");
        // Lean on copying, and open the gate so that the latents' copy path counts too.
        model.pointer!.gen.bias!.write([-1.5]);
        model.gate?.gate.write([0.8]);
        const input = tidy(() => collateQa(examples, kind, special).input);
        const steps = 5;
        const { tokens, scores } = await model.generate(input, {
          bos: special.bos,
          eos: special.eos,
          maxNewTokens: steps,
        });
        const v = config.stack.vocabSize;
        for (let r = 0; r < examples.length; r++) {
          const seq = [special.bos, ...tokens[r]];
          const one = tidy(() => collateQa([examples[r]], kind, special).input);
          const ids = tidy(() =>
            one.context ? ops.concat([one.source, one.context], 1) : one.source
          );
          const hostIds = await ids.data();
          const logp = await noGrad(() =>
            tidy(() => {
              const out = model.forward(one, tensor(seq, [1, seq.length], "i32"));
              return copyMixtureLogProbs(out.logits, out.copy!.pGen, out.copy!.source, hostIds);
            })
          ).data();
          for (const t of new Set([...Object.values(one), ids])) t?.dispose();
          let score = 0;
          const ended = tokens[r].length < steps;
          for (let t = 0; t < seq.length - (ended ? 0 : 1); t++) {
            const p = Array.from(logp.slice(t * v, (t + 1) * v));
            const want = t < tokens[r].length ? tokens[r][t] : special.eos;
            assertEquals(p.indexOf(Math.max(...p)), want, `row ${r} token ${t}`);
            score += p[want];
          }
          assert(Math.abs(score - scores[r]) < 1e-4, `row ${r} score ${scores[r]} vs ${score}`);
        }
      } finally {
        model.dispose();
      }
    },
  );
}
