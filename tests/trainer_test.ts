import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { nn, ops, optim, poolStats, type Tensor, tensor } from "../mod.ts";
import { type StepContext, Trainer, type TrainingTask } from "../core/train/mod.ts";

const FEATURES = 3;
const ROWS = 16;

/** A fixed linear-regression set: y = x·w* + noise-free offset, so every step's loss is known. */
function regressionData(): { x: number[][]; y: number[] } {
  const x = Array.from(
    { length: ROWS },
    (_, i) => Array.from({ length: FEATURES }, (_, j) => Math.sin(1 + i * 0.7 + j * 1.3)),
  );
  const y = x.map((r) => 0.5 * r[0] - 1.5 * r[1] + 2 * r[2] + 0.25);
  return { x, y };
}

interface TaskKnobs {
  batchSize?: number;
  /** Metrics per epoch that evaluate() returns in turn. */
  metrics?: number[];
  /** Called before each step's loss (e.g. to throw as if killed, or to move a fake clock). */
  beforeStep?: (ctx: StepContext) => void;
  /** Steps whose loss is replaced by NaN. */
  nanSteps?: number[];
  saved?: number[];
  /** Plain SGD instead of AdamW: its update scales with the gradient (AdamW's barely does). */
  sgd?: boolean;
}

function regressionTask(knobs: TaskKnobs = {}): TrainingTask<number[]> & { model: nn.Linear } {
  const data = regressionData();
  const model = new nn.Linear(FEATURES, 1, { seed: 3 });
  const optimizer = knobs.sgd
    ? new optim.SGD(model.parameters(), { lr: 0.05 })
    : new optim.AdamW(model.parameters(), { lr: 0.05, weightDecay: 0.01 });
  const size = knobs.batchSize ?? 4;
  let epochSeen = 0;
  return {
    model,
    optimizer,
    lossTerms: ["loss", "loss_abs"],
    metrics: knobs.metrics ? ["score"] : undefined,
    batches(epoch: number) {
      // A different order each epoch, reproducible from the epoch alone.
      const order = Array.from({ length: ROWS }, (_, i) => (i * (2 * epoch + 3)) % ROWS);
      return Array.from({ length: ROWS / size }, (_, b) => order.slice(b * size, (b + 1) * size));
    },
    loss(batch: number[], ctx: StepContext): Tensor[] {
      knobs.beforeStep?.(ctx);
      const x = tensor(batch.flatMap((i) => data.x[i]), [batch.length, FEATURES]);
      const y = tensor(batch.map((i) => data.y[i]), [batch.length, 1]);
      const diff = ops.sub(model.forward(x), y);
      const l = ops.mean(ops.mul(diff, diff));
      const total = knobs.nanSteps?.includes(ctx.step + 1) ? ops.mul(l, NaN) : l;
      return [total, ops.mean(ops.abs(diff))];
    },
    tokens: (batch) => batch.length,
    evaluate: knobs.metrics
      ? () => Promise.resolve({ score: knobs.metrics![epochSeen++] })
      : undefined,
    saveBest: knobs.saved
      ? (dir: string) => {
        knobs.saved!.push(epochSeen);
        return Deno.mkdir(dir, { recursive: true });
      }
      : undefined,
  };
}

function lossColumn(path: string, column = "loss"): number[] {
  const [header, ...rows] = Deno.readTextFileSync(path).trim().split("\n");
  const c = header.split(",").indexOf(column);
  return rows.map((r) => Number(r.split(",")[c]));
}

const quiet = { log: () => {}, progressWrite: () => {} };

async function weightsOf(model: nn.Linear): Promise<number[]> {
  const out: number[] = [];
  for (const p of model.parameters()) out.push(...await p.data());
  return out;
}

gpuTest(
  "Trainer: a run killed after a checkpoint resumes with the same losses, optimizer state and weights",
  async () => {
    const dir = Deno.makeTempDirSync();
    const options = { label: "t", epochs: 3, seed: 7, saveEvery: 1, averageDecay: 0.9, ...quiet };
    const reference = regressionTask();
    const refResult = await new Trainer(reference, { ...options, out: `${dir}/ref` }).fit();
    assertEquals(refResult.steps, 12);
    const refLosses = lossColumn(`${dir}/ref/train_log.csv`);

    const killed = regressionTask({
      beforeStep: (ctx) => {
        if (ctx.step === 6) throw new Error("killed");
      },
    });
    let message = "";
    try {
      await new Trainer(killed, { ...options, out: `${dir}/run` }).fit();
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message, "killed");
    const saved = JSON.parse(Deno.readTextFileSync(`${dir}/run/last/trainer_state.json`));
    assertEquals(saved.step, 6, "the checkpoint on disk is the one of step 6");
    // As if a later save had been killed between its two renames.
    Deno.renameSync(`${dir}/run/last`, `${dir}/run/last.previous`);

    const resumed = regressionTask();
    const trainer = new Trainer(resumed, { ...options, out: `${dir}/run`, resume: true });
    const result = await trainer.fit();
    assertEquals(result.steps, 12);
    assertEquals(lossColumn(`${dir}/run/train_log.csv`), refLosses, "every step's loss");
    assertEquals(await weightsOf(resumed.model), await weightsOf(reference.model), "final weights");
    const [a, b] = [await resumed.optimizer.exportState(), await reference.optimizer.exportState()];
    assertEquals(a.appliedSteps, b.appliedSteps);
    assertEquals(a.stepCalls, b.stepCalls);
    for (let i = 0; i < a.state.length; i++) {
      for (const key of Object.keys(b.state[i])) {
        assertEquals(Array.from(a.state[i][key]), Array.from(b.state[i][key]), `state ${i}.${key}`);
      }
    }
    trainer.dispose();
    for (const t of [reference, killed, resumed]) {
      t.model.dispose();
      t.optimizer.dispose();
    }
  },
);

gpuTest(
  "Trainer: best checkpoint by the named metric, early stop after `patience` epochs",
  async () => {
    const saved: number[] = [];
    const task = regressionTask({ metrics: [0.5, 0.7, 0.6, 0.65, 0.69, 0.9], saved });
    const out = Deno.makeTempDirSync();
    const result = await new Trainer(task, {
      out,
      label: "t",
      epochs: 6,
      seed: 1,
      patience: 3,
      ...quiet,
    }).fit();
    assertEquals(result.stopReason, "patience");
    assertEquals(result.bestEpoch, 2);
    assertEquals(result.best, { score: 0.7 });
    assertEquals(saved, [1, 2], "saveBest runs after epochs 1 and 2 only");
    assertEquals(lossColumn(`${out}/epochs.csv`, "val_score"), [0.5, 0.7, 0.6, 0.65, 0.69]);
    task.model.dispose();
    task.optimizer.dispose();
  },
);

gpuTest(
  "Trainer: the time budget stops the run and the step limit saves without evaluating",
  async () => {
    let clock = 0;
    const task = regressionTask({ beforeStep: () => (clock += 10_000) });
    const out = Deno.makeTempDirSync();
    const budget = await new Trainer(task, {
      out,
      label: "t",
      epochs: 5,
      seed: 1,
      maxMinutes: 0.5,
      now: () => clock,
      ...quiet,
    }).fit();
    assertEquals(budget.stopReason, "budget");
    assertEquals(budget.steps, 4, "stops at the first step that ends past 30 s");

    const evaluated: number[] = [];
    const limited = regressionTask({ metrics: [1, 2, 3], saved: evaluated });
    const capped = await new Trainer(limited, {
      out: `${out}/capped`,
      label: "t",
      epochs: 3,
      seed: 1,
      maxSteps: 6,
      ...quiet,
    }).fit();
    assertEquals([capped.stopReason, capped.steps], ["max-steps", 6]);
    assertEquals(evaluated, [1], "only the one finished epoch was evaluated");
    const state = JSON.parse(Deno.readTextFileSync(`${out}/capped/last/trainer_state.json`));
    assertEquals([state.step, state.extra.epoch, state.extra.batch], [6, 1, 2]);
    for (const t of [task, limited]) {
      t.model.dispose();
      t.optimizer.dispose();
    }
  },
);

gpuTest("Trainer: 2 accumulated micro-batches of 4 give the step of one batch of 8", async () => {
  const runs: number[][] = [], losses: number[][] = [];
  for (const [batchSize, gradAccum] of [[8, 1], [4, 2]]) {
    const task = regressionTask({ batchSize, sgd: true });
    const out = Deno.makeTempDirSync();
    await new Trainer(task, {
      out,
      label: "t",
      epochs: 2,
      seed: 1,
      gradAccum,
      clipNorm: 0,
      ...quiet,
    }).fit();
    runs.push(await weightsOf(task.model));
    losses.push(lossColumn(`${out}/train_log.csv`));
    task.model.dispose();
    task.optimizer.dispose();
  }
  // The mean of two half-batch means is the full-batch mean up to f32 rounding of a few terms.
  for (let i = 0; i < runs[0].length; i++) {
    assert(Math.abs(runs[0][i] - runs[1][i]) < 1e-5, `weight ${i}: ${runs[0][i]} vs ${runs[1][i]}`);
  }
  assertEquals(losses[0].length, 4, "two optimizer steps per epoch either way");
  for (let i = 0; i < 4; i++) {
    assert(
      Math.abs(losses[0][i] - losses[1][i]) < 1e-5,
      `loss ${i}: ${losses[0][i]} vs ${losses[1][i]}`,
    );
  }
});

gpuTest("Trainer: a non-finite loss is counted and its update skipped", async () => {
  const task = regressionTask({ nanSteps: [3] });
  const clean = regressionTask();
  const out = Deno.makeTempDirSync();
  const lines: string[] = [];
  const result = await new Trainer(task, {
    out,
    label: "t",
    epochs: 1,
    seed: 1,
    maxSteps: 3,
    ...quiet,
    log: (l) => lines.push(l),
  }).fit();
  await new Trainer(clean, {
    out: `${out}/clean`,
    label: "t",
    epochs: 1,
    seed: 1,
    maxSteps: 2,
    ...quiet,
  }).fit();
  assertEquals(result.nonFiniteSteps, 1);
  assert(lines.some((l) => l.includes("step 3: non-finite loss")), lines.join("\n"));
  assertEquals(await weightsOf(task.model), await weightsOf(clean.model), "step 3 changed nothing");
  for (const t of [task, clean]) {
    t.model.dispose();
    t.optimizer.dispose();
  }
});

gpuTest(
  "Trainer: GPU memory is flat from step 10 to step 300 (checkpoints, weight average and evaluation included)",
  async () => {
    const stats: Record<number, ReturnType<typeof poolStats>> = {};
    const task = regressionTask({
      metrics: Array.from({ length: 75 }, (_, i) => i % 7),
      beforeStep: (ctx) => {
        if (ctx.step === 10 || ctx.step === 299) stats[ctx.step] = poolStats();
      },
    });
    const trainer = new Trainer(task, {
      out: Deno.makeTempDirSync(),
      label: "t",
      epochs: 75,
      seed: 1,
      saveEvery: 25,
      averageDecay: 0.99,
      ...quiet,
    });
    const result = await trainer.fit();
    assertEquals(result.steps, 300);
    for (const key of ["liveBuffers", "liveBytes", "pooledBytes", "createdBuffers"] as const) {
      assertEquals(stats[299][key], stats[10][key], key);
    }
    trainer.dispose();
    task.model.dispose();
    task.optimizer.dispose();
  },
);
