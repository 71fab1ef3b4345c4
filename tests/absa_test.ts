import { assert, assertEquals } from "./assert.ts";
import { GLOVE_FIXTURE, gpuTest } from "./helpers.ts";
import { noGrad, tidy } from "../mod.ts";
import {
  consistentAbsaConfig,
  FastClaraAbsa,
  type FastClaraAbsaConfig,
  MAX_ASPECT_DISTANCE,
  NO_ASPECT_DISTANCE,
} from "../core/models/fast_clara_absa.ts";
import { readAbsaXml } from "../datasets/absa_xml.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { collateAbsa, distancesToTerm, encodeBatch, nearestAspects } from "../tasks/absa/batch.ts";
import { absaSpecialIds, buildAbsaExamples, tokenizeWithSpans } from "../tasks/absa/examples.ts";
import { curriculumWeights, DEFAULT_CURRICULUM, parseCurriculum } from "../tasks/absa/objective.ts";
import { evalAbsa } from "../tasks/eval_absa.ts";

const FOODS = ["pasta", "soup", "pizza", "salad", "steak", "bread"];
const OTHERS = ["waiter", "music", "decor", "price", "service", "table"];
const GOOD = ["great", "lovely", "superb"],
  BAD = ["awful", "cold", "rude"],
  MEH = ["there", "ordinary", "fine"];

/** Writes a MAMS-ATSA file of `n` generated two-aspect sentences; returns its path. */
function writeSyntheticMams(dir: string, name: string, n: number, seed: number): string {
  const pick = <T>(xs: T[], i: number) => xs[(i * 7 + seed) % xs.length];
  const words: [string[], string][] = [[GOOD, "positive"], [BAD, "negative"], [MEH, "neutral"]];
  const sentences = Array.from({ length: n }, (_, i) => {
    const a = pick(FOODS, i), b = pick(OTHERS, i + 3);
    const [wa, pa] = words[(i + seed) % 3], [wb, pb] = words[(i + seed + 1) % 3];
    const text = `The ${a} was ${pick(wa, i)} but the ${b} was ${pick(wb, i + 1)}.`;
    const fa = text.indexOf(a), fb = text.indexOf(b, fa + a.length);
    return `<sentence><text>${text}</text><aspectTerms>` +
      `<aspectTerm term="${a}" polarity="${pa}" from="${fa}" to="${fa + a.length}"/>` +
      `<aspectTerm term="${b}" polarity="${pb}" from="${fb}" to="${fb + b.length}"/>` +
      `</aspectTerms></sentence>`;
  });
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(path, `<?xml version="1.0"?><sentences>${sentences.join("")}</sentences>`);
  return path;
}

const TINY = [
  "--dim",
  "16",
  "--hidden",
  "32",
  "--layers",
  "1",
  "--heads",
  "2",
  "--vocab-size",
  "120",
  "--glove",
  "none",
];

/**
 * Losses of the first 20 steps of `trainArgs` with the GloVe fixture, as train:absa logged them
 * at 21b4581, before its loop moved into the shared trainer (core/train/).
 */
const LOSSES_BEFORE_SHARED_TRAINER = [
  4.586326599121094,
  4.430876731872559,
  4.37274694442749,
  4.214843273162842,
  4.157279014587402,
  4.084566116333008,
  4.135955333709717,
  3.896942138671875,
  3.910391330718994,
  3.9332399368286133,
  3.7910683155059814,
  3.765561103820801,
  3.698418140411377,
  3.6769933700561523,
  3.617906093597412,
  3.499497890472412,
  3.478423833847046,
  3.380507469177246,
  3.349520444869995,
  3.309441328048706,
];

function trainArgs(dir: string, out: string, extra: string[] = []): string[] {
  return [
    "run",
    "-A",
    "tasks/train_absa.ts",
    "--train",
    `${dir}/train.xml`,
    "--val",
    `${dir}/val.xml`,
    "--out",
    out,
    "--batch-size",
    "4",
    "--epochs",
    "6",
    "--patience",
    "100",
    "--warmup",
    "2",
    "--save-every",
    "1",
    ...TINY,
    ...extra,
  ];
}

/** Runs a task in a child process; returns its stdout. */
async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`train:absa failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

function lossByStep(csvPath: string): Map<number, number> {
  const [header, ...rows] = Deno.readTextFileSync(csvPath).trim().split("\n");
  const cols = header.split(",");
  const step = cols.indexOf("step"), loss = cols.indexOf("loss");
  return new Map(rows.map((r) => r.split(",")).map((c) => [Number(c[step]), Number(c[loss])]));
}

/** `n` synthetic MAMS sentences as examples, with a tokenizer (4 memory tokens) trained on them. */
async function syntheticExamples(n: number) {
  const dir = Deno.makeTempDirSync();
  const data = await readAbsaXml(writeSyntheticMams(dir, "a.xml", n, 0));
  const tokenizer = new TextTokenizer(
    trainWordPiece(data.sentences.map((s) => s.text), { vocabSize: 100, memoryTokens: 4 }),
  );
  const special = absaSpecialIds(tokenizer, 4);
  const examples = buildAbsaExamples(data.sentences, tokenizer, {
    task: "atsa",
    maxTokens: 32,
    special,
  });
  return { tokenizer, special, examples };
}

/** A one-layer, 16-wide ABSA model with aspect slots, in eval mode (4 memory tokens). */
function tinyModel(
  vocabSize: number,
  seed: number,
  options: Partial<FastClaraAbsaConfig>,
): FastClaraAbsa {
  return new FastClaraAbsa({
    vocabSize,
    dim: 16,
    heads: 2,
    layers: 1,
    hidden: 32,
    maxLength: 40,
    memoryTokens: 4,
    labels: 3,
    dropout: 0,
    seed,
    markAspects: true,
    ...options,
  }).eval();
}

gpuTest("bottleneck: the decoder reads the sentence only through the memory", async () => {
  const { tokenizer, special, examples } = await syntheticExamples(4);
  // Same aspects and prompts, different sentences.
  const other = examples.map((e, i) => ({
    ...e,
    tokens: examples[(i + 1) % examples.length].tokens,
  }));
  // The default train:absa model: slots enter the encoder input and the prompts only.
  const model = tinyModel(tokenizer.vocabSize, 3, {
    slotMemory: true,
    aspectRegions: true,
    aspectAttention: true,
    localRadius: 1,
    positions: "rotary",
    termHead: true,
  });
  const options = { slotMemory: true, aspectRegions: true, aspectAttention: true };
  const [fixed, swapped, reencoded] = noGrad(() =>
    tidy(() => {
      const a = collateAbsa(examples, special, options);
      const b = collateAbsa(other, special, options);
      const encode = (x: typeof a) => encodeBatch(model, x);
      const { memory } = encode(a);
      const { memory: otherMemory } = encode(b);
      return [
        model.classify(memory, a.prompts),
        model.classify(memory, b.prompts),
        model.classify(otherMemory, b.prompts),
      ];
    })
  );
  const [x, y, z] = [await fixed.data(), await swapped.data(), await reencoded.data()];
  assertEquals(
    Array.from(y),
    Array.from(x),
    "memory held fixed: output must not change with the sentence",
  );
  assert(
    z.some((v, i) => Math.abs(v - x[i]) > 1e-6),
    "re-encoding a different sentence must change the output",
  );
  for (const t of [fixed, swapped, reencoded]) t.dispose();
  model.dispose();
});

gpuTest("slot memory: memory token j carries the slot of aspect (j mod A) + 1", async () => {
  const { special, examples } = await syntheticExamples(3);
  const [plainSlots, sharedSlots] = tidy(() => [
    collateAbsa(examples, special).encoderAspects,
    collateAbsa(examples, special, { slotMemory: true }).encoderAspects,
  ]);
  const width = plainSlots.shape[1];
  const [plain, shared] = [await plainSlots.data(), await sharedSlots.data()];
  plainSlots.dispose();
  sharedSlots.dispose();
  examples.forEach((e, r) => {
    const aspects = e.aspects.length;
    assert(aspects > 0, "the synthetic sentences have aspects");
    const row = Array.from(shared.subarray(r * width, r * width + 4));
    assertEquals(row, [0, 1, 2, 3].map((j) => (j % aspects) + 1), `sentence ${r}`);
    assertEquals(Array.from(plain.subarray(r * width, r * width + 4)), [0, 0, 0, 0]);
    assertEquals(
      Array.from(shared.subarray(r * width + 4, (r + 1) * width)),
      Array.from(plain.subarray(r * width + 4, (r + 1) * width)),
      "sentence tokens keep their term slots",
    );
  });
});

Deno.test("aspect regions: each token takes its nearest term's slot and distance (ties go left)", () => {
  // Tokens: a [t1 t1] b c d [t2] e. c is 2 from t1's last token and 2 from t2: a tie, so slot 1.
  const { slots, distances } = nearestAspects([0, 1, 1, 0, 0, 0, 2, 0]);
  assertEquals(slots, [1, 1, 1, 1, 1, 2, 2, 2]);
  assertEquals(distances, [1, 0, 0, 1, 2, 1, 0, 1]);
  const far = nearestAspects([1, ...new Array(40).fill(0)]);
  assertEquals(far.distances.at(-1), MAX_ASPECT_DISTANCE, "distances are capped");
  const none = nearestAspects([0, 0, 0]);
  assertEquals(none.slots, [0, 0, 0]);
  assertEquals(none.distances, [NO_ASPECT_DISTANCE, NO_ASPECT_DISTANCE, NO_ASPECT_DISTANCE]);
});

Deno.test("ABSA config rules: options that build on aspect marks or slot memory fall with them", () => {
  const base = {
    vocabSize: 8,
    dim: 4,
    heads: 1,
    layers: 1,
    hidden: 8,
    maxLength: 8,
    memoryTokens: 2,
    labels: 3,
    dropout: 0,
    seed: 1,
  };
  const all = { slotMemory: true, aspectRegions: true, aspectAttention: true, termHead: true };
  const pick = (
    c: ReturnType<typeof consistentAbsaConfig>,
  ) => [c.markAspects, c.slotMemory, c.aspectRegions, c.aspectAttention, c.termHead];
  assertEquals(pick(consistentAbsaConfig({ ...base, ...all, markAspects: true })), [
    true,
    true,
    true,
    true,
    true,
  ]);
  assertEquals(pick(consistentAbsaConfig({ ...base, ...all })), [
    false,
    false,
    false,
    false,
    false,
  ]);
  assertEquals(
    pick(consistentAbsaConfig({ ...base, ...all, markAspects: true, slotMemory: false })),
    [true, false, true, false, true],
    "aspect attention needs slot memory",
  );
});

Deno.test("curriculum: α falls and β rises monotonically from start to end weights", () => {
  const at = (p: number) => curriculumWeights(DEFAULT_CURRICULUM, p);
  assertEquals(at(0), DEFAULT_CURRICULUM.start);
  assertEquals(at(1), DEFAULT_CURRICULUM.end);
  assertEquals(at(2), DEFAULT_CURRICULUM.end, "progress is clamped");
  const custom = parseCurriculum("rec=0.3:0.05, absa=1:1");
  assertEquals(custom.start, { ...DEFAULT_CURRICULUM.start, rec: 0.3, absa: 1 });
  assertEquals(custom.end, { ...DEFAULT_CURRICULUM.end, rec: 0.05, absa: 1 });
  assertEquals(parseCurriculum(""), DEFAULT_CURRICULUM);
  for (const bad of ["rec=1", "foo=1:2", "rec=-1:0", "absa=x:1"]) {
    let message = "";
    try {
      parseCurriculum(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes(`"${bad}"`), `rejects ${bad}: ${message}`);
  }
  let prev = at(0);
  for (let p = 0.1; p <= 1.0001; p += 0.1) {
    const w = at(p);
    assert(w.rec < prev.rec && w.absa > prev.absa, `not monotone at ${p.toFixed(1)}`);
    prev = w;
  }
});

gpuTest(
  "train:absa keeps its losses from before the shared trainer, resumes after a kill mid-epoch with every later loss, the final weights and val metrics of the uninterrupted run; eval:absa --json",
  async () => {
    const dir = Deno.makeTempDirSync();
    writeSyntheticMams(dir, "train.xml", 24, 1);
    writeSyntheticMams(dir, "val.xml", 8, 2);
    // Frozen GloVe rows must come back from the checkpoint: a resumed run does not re-read GloVe.
    const glove = ["--glove", GLOVE_FIXTURE, "--glove-vocab", "6"];
    await run(trainArgs(dir, `${dir}/reference`, glove));
    const reference = lossByStep(`${dir}/reference/train_log.csv`);
    // 1e-4 relative: the fused kernels may reassociate f32 sums (≈1e-7 per op); over 20 steps of
    // AdamW such differences stay orders of magnitude below this, while any change of the loop
    // (order of batches, seeds, schedule, accumulation) moves the losses by 1e-3 or more.
    LOSSES_BEFORE_SHARED_TRAINER.forEach((before, i) => {
      const now = reference.get(i + 1)!;
      assert(
        Math.abs(now - before) <= 1e-4 * Math.abs(before),
        `step ${i + 1}: ${now} vs ${before}`,
      );
    });
    const columns = Deno.readTextFileSync(`${dir}/reference/train_log.csv`).split("\n")[0];
    for (
      const c of ["w_rec", "w_absa", "w_mse", "w_ext", "loss_rec", "loss_absa", "lr", "grad_norm"]
    ) {
      assert(columns.split(",").includes(c), `log lacks ${c}`);
    }

    const child = new Deno.Command(Deno.execPath(), {
      args: trainArgs(dir, `${dir}/killed`, glove),
      stdout: "null",
      stderr: "null",
    }).spawn();
    let killedAt = 0;
    for (let i = 0; i < 600 && !killedAt; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        const state = JSON.parse(Deno.readTextFileSync(`${dir}/killed/last/trainer_state.json`));
        if (state.step >= 3 && state.extra.batch > 0 && state.extra.batch < 6) {
          killedAt = state.step;
        }
      } catch { /* not written yet */ }
    }
    child.kill("SIGKILL");
    await child.status;
    assert(killedAt > 0, "the run finished or never checkpointed before it could be killed");
    // As if the kill had also come between a checkpoint swap and its clean-up.
    Deno.mkdirSync(`${dir}/killed/last.previous`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/killed/last.previous/stale.json`, "{}");

    const stdout = await run(trainArgs(dir, `${dir}/killed`, [...glove, "--resume"]));
    const loaded = /resumed from .*step (\d+)/.exec(stdout);
    assert(loaded, `the resumed run says which checkpoint it loaded:\n${stdout}`);
    const from = Number(loaded[1]);
    const resumed = lossByStep(`${dir}/killed/train_log.csv`);
    const last = Math.max(...reference.keys());
    assert(from >= killedAt && from < last, `resumed at step ${from}, seen at ${killedAt}`);
    assertEquals(Math.max(...resumed.keys()), last, "the resumed run finishes all steps");
    for (let step = from + 1; step <= last; step++) {
      assertEquals(resumed.get(step), reference.get(step), `loss of step ${step} after resuming`);
    }
    for (const file of ["last/model.safetensors", "best/model.safetensors", "epochs.csv"]) {
      assertEquals(
        Deno.readFileSync(`${dir}/killed/${file}`),
        Deno.readFileSync(`${dir}/reference/${file}`),
        `${file} (final weights and val metrics) equal to the uninterrupted run's`,
      );
    }

    const { report } = await evalAbsa([
      "--checkpoint",
      `${dir}/reference/best`,
      "--file",
      `${dir}/val.xml`,
      "--json",
    ]);
    const json = JSON.parse(JSON.stringify(report));
    assert(
      json.accuracy >= 0 && json.accuracy <= 1 && json.macro_f1 >= 0 && json.macro_f1 <= 1,
      "metrics in [0, 1]",
    );
    assertEquals(json.count, 16, "every val aspect is scored");
    assertEquals(json.confusion.flat().reduce((a: number, b: number) => a + b, 0), 16);
  },
);

Deno.test("aspect spans: piecewise tokenization equals whole-text ids and marks each term with its slot", () => {
  const text = "The grilled salmon was great but the waiter, sadly, was rude.";
  const tokenizer = new TextTokenizer(trainWordPiece([text, text], { vocabSize: 60 }));
  const ids = (s: string) => tokenizer.encode(s, false);
  const from1 = text.indexOf("grilled salmon"), from2 = text.indexOf("waiter");
  const { tokens, aspectSlots } = tokenizeWithSpans(
    text,
    [{ from: from2, to: from2 + 6, slot: 2 }, { from: from1, to: from1 + 14, slot: 1 }],
    ids,
  );
  assertEquals(tokens, ids(text));
  assertEquals(tokens.filter((_, i) => aspectSlots[i] === 1), ids("grilled salmon"));
  assertEquals(tokens.filter((_, i) => aspectSlots[i] === 2), ids("waiter"));
  assertEquals(aspectSlots.filter((s) => s > 0).length, ids("grilled salmon waiter").length);
});

Deno.test("distancesToTerm: each token's distance to one aspect's term, capped; absent is far", () => {
  assertEquals(distancesToTerm([0, 1, 1, 0, 0, 2, 0], 1), [1, 0, 0, 1, 2, 3, 4]);
  assertEquals(distancesToTerm([0, 1, 1, 0, 0, 2, 0], 2), [5, 4, 3, 2, 1, 0, 1]);
  assertEquals(distancesToTerm([2, ...new Array(30).fill(0)], 2).at(-1), MAX_ASPECT_DISTANCE);
  assertEquals(distancesToTerm([0, 1, 0], 3), [
    NO_ASPECT_DISTANCE,
    NO_ASPECT_DISTANCE,
    NO_ASPECT_DISTANCE,
  ]);
  assertEquals(
    distancesToTerm([0, 0], 0),
    [NO_ASPECT_DISTANCE, NO_ASPECT_DISTANCE],
    "slot 0 owns no term",
  );
});

gpuTest(
  "aspect attention: memory token j measures every key from its own aspect's term",
  async () => {
    const { special, examples } = await syntheticExamples(3);
    const distances = tidy(() =>
      collateAbsa(examples, special, { slotMemory: true, aspectAttention: true }).memoryDistances!
    );
    const [b, m, width] = distances.shape;
    const values = await distances.data();
    examples.forEach((e, r) => {
      for (let j = 0; j < m; j++) {
        const row = Array.from(values.subarray((r * m + j) * width, (r * m + j + 1) * width));
        const owner = (j % e.aspects.length) + 1;
        const sentence = distancesToTerm(e.aspectSlots, owner);
        assertEquals(
          row.slice(0, m + 1),
          new Array(m + 1).fill(NO_ASPECT_DISTANCE),
          "memory and [CLS]",
        );
        assertEquals(
          row.slice(m + 1, m + 1 + sentence.length),
          sentence,
          `sentence ${r}, memory ${j}`,
        );
        assert(
          row.slice(m + 1 + sentence.length).every((d) => d === NO_ASPECT_DISTANCE),
          "[SEP], padding",
        );
        assert(sentence.includes(0), "the owner's term is in the sentence");
      }
    });
    assertEquals(b, examples.length);
    distances.dispose();
    const plain = tidy(() =>
      collateAbsa(examples, special, { aspectAttention: true }).memoryDistances
    );
    assertEquals(plain, undefined, "aspect attention needs slot memory");
  },
);

gpuTest(
  "term head: each scored aspect pools its own term tokens in the encoder's text states",
  async () => {
    const { tokenizer, special, examples } = await syntheticExamples(3);
    const model = tinyModel(tokenizer.vocabSize, 5, { termHead: true });
    const [weights, text, logits, index] = noGrad(() =>
      tidy(() => {
        const batch = collateAbsa(examples, special, { termWeights: true });
        const { text } = model.encode(batch.encoderIds, batch.encoderPadding, {
          slots: batch.encoderAspects,
        });
        const logits = model.classifyTerms(text, batch.prompts.memoryIndex, batch.termWeights!);
        return [batch.termWeights!, text, logits, batch.prompts.memoryIndex];
      })
    );
    const [n, t] = weights.shape, d = text.shape[2];
    const [w, x, y, rows] = await Promise.all([weights, text, logits, index].map((v) => v.data()));
    const head = await model.termHead!.weight.data(), bias = await model.termHead!.bias!.data();
    let aspect = 0;
    examples.forEach((e, r) => {
      for (const a of e.aspects) {
        const span = e.aspectSlots.flatMap((s, i) => (s === a.slot ? [i + 1] : []));
        assert(span.length > 0, "every synthetic aspect has a term");
        const row = Array.from(w.subarray(aspect * t, (aspect + 1) * t));
        assertEquals(row, row.map((_, i) => (span.includes(i) ? Math.fround(1 / span.length) : 0)));
        assertEquals(rows[aspect], r);
        // Host reference: mean of the term's text states, then the head (weight [labels, dim]).
        const pooled = new Array(d).fill(0);
        for (const i of span) for (let k = 0; k < d; k++) pooled[k] += x[(r * t + i) * d + k];
        for (let c = 0; c < 3; c++) {
          let want = bias[c];
          for (let k = 0; k < d; k++) want += (pooled[k] / span.length) * head[c * d + k];
          // f32 sums of 16 products in a different order: 1e-5 absolute covers rounding.
          assert(Math.abs(y[aspect * 3 + c] - want) < 1e-5, `aspect ${aspect} class ${c}`);
        }
        aspect++;
      }
    });
    assertEquals(aspect, n);
    for (const v of [weights, text, logits, index]) v.dispose();
    model.dispose();
  },
);
