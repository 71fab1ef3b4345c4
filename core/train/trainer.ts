/**
 * The training loop every task shares: epochs of batches in a resumable order, one optimizer step
 * per `gradAccum` micro-batches (one GPU→CPU sync per step), a progress line, a CSV log with its
 * loss chart, a checkpoint every `saveEvery` steps and at each epoch end, `resume` from the last
 * checkpoint (weights, optimizer, weight average, data position; the random state is a function
 * of the step), per-epoch evaluation on the averaged weights, the best checkpoint by a named
 * metric, early stopping, a step limit and a time budget, and a count of non-finite losses (the
 * optimizer's guard skips those updates).
 *
 * A task supplies a {@linkcode TrainingTask}: its model, optimizer, batches, loss and evaluator.
 *
 * @module
 */
import type { Module } from "../nn/module.ts";
import type { Tensor } from "../tensor.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { WeightAverage } from "../optim/ema.ts";
import { loadCheckpoint, recoverCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { CsvLog, trainingLogColumns } from "../io/csv_log.ts";
import { Progress } from "../io/progress.ts";
import { manualSeed } from "../random.ts";
import { tidy } from "../scope.ts";
import { counters } from "../../kernels/runtime.ts";
import { optimizerStep } from "./step.ts";

/** Checkpoint names of the averaged weights: the parameter's name behind this prefix. */
export const AVERAGE_PREFIX = "ema/";

/** Where a step stands, as the task's hooks see it. */
export interface StepContext {
  /** Optimizer steps taken before this one. */
  step: number;
  /** Steps of the whole run (epochs × steps per epoch). */
  totalSteps: number;
  /** `step / totalSteps`, for curricula. */
  progress: number;
  /** 0-based epoch. */
  epoch: number;
}

/** What a task gives the trainer. `B` is one micro-batch (e.g. a list of example indices). */
export interface TrainingTask<B> {
  /** The model: trained, saved and restored whole (frozen tables included). */
  model: Module;
  /** Updates the model's trainable parameters. */
  optimizer: Optimizer;
  /** Names of the scalar terms {@linkcode loss} returns; the first is the total that trains. */
  lossTerms: string[];
  /** Micro-batches of `epoch`, in order; must be the same list whenever asked for that epoch. */
  batches(epoch: number): B[];
  /** The loss terms of one micro-batch (called inside a `tidy` scope, after reseeding). */
  loss(batch: B, ctx: StepContext): Tensor[];
  /** Host-side set-up before each step, e.g. per-group learning rates (also after a resume). */
  beforeStep?(ctx: StepContext): void;
  /** Host-side numbers logged with each step (e.g. curriculum weights). */
  logColumns?: string[];
  /** Values of {@linkcode logColumns} at a step. */
  logValues?(ctx: StepContext): Record<string, number>;
  /** Tokens in a micro-batch, for the tokens/s column. */
  tokens?(batch: B): number;
  /** Names of the metrics {@linkcode evaluate} returns. */
  metrics?: string[];
  /** Validation after each epoch (on the averaged weights when they are kept). */
  evaluate?(): Promise<Record<string, number>>;
  /** Writes the model as a usable best model (called with the weights that scored). */
  saveBest?(dir: string): Promise<void>;
}

/** How the trainer runs. */
export interface TrainerOptions {
  /** Run directory: `last/`, `best/`, `train_log.csv` (+ `.svg`), `epochs.csv`. */
  out: string;
  /** Name shown on the progress line and the chart. */
  label: string;
  /** Epochs to run. */
  epochs: number;
  /** Base seed: step t runs after `manualSeed(seed · 1 000 003 + t)`. */
  seed: number;
  /** Continue from `out/last` when it holds a checkpoint. */
  resume?: boolean;
  /** Steps between checkpoints (default 50). */
  saveEvery?: number;
  /** Stop after this many steps in all (0: no limit); the run is saved and not evaluated. */
  maxSteps?: number;
  /** Wall-clock safety stop in minutes, counted across resumes (default: none). */
  maxMinutes?: number;
  /** Epochs without a better best metric before stopping (default: never). */
  patience?: number;
  /** The metric that picks the best checkpoint (default: the first of the task's metrics). */
  bestMetric?: string;
  /** Whether larger (default) or smaller values of the best metric are better. */
  bestMode?: "max" | "min";
  /** Micro-batches per optimizer step (default 1). */
  gradAccum?: number;
  /** Global gradient-norm clip (default 1; 0 disables). */
  clipNorm?: number;
  /** Decay of the weight average used for evaluation and the best model (0, the default: off). */
  averageDecay?: number;
  /** Loss terms shown on the progress line (default: the total). */
  progressTerms?: string[];
  /** Where log lines go (default console.log). */
  log?: (line: string) => void;
  /** Clock in milliseconds (default performance.now), for tests. */
  now?: () => number;
  /** Progress output (default stderr). */
  progressWrite?: (text: string) => void;
}

/** Why a run ended. */
export type StopReason = "epochs" | "patience" | "max-steps" | "budget";

/** What {@linkcode Trainer.fit} reports. */
export interface FitResult {
  /** Metrics of the best epoch (empty without evaluation). */
  best: Record<string, number>;
  /** 1-based epoch of the best metrics (-1: none). */
  bestEpoch: number;
  /** Optimizer steps taken in all, resumed runs included. */
  steps: number;
  /** Wall time of the run in seconds, resumed runs included. */
  wallSeconds: number;
  /** Mean milliseconds per step of this process, its first step excluded (compilation). */
  msPerStep: number;
  /** Mean GPU→CPU syncs per step of this process, its first step excluded. */
  syncsPerStep: number;
  /** Steps whose loss was not finite (their updates were skipped by the optimizer's guard). */
  nonFiniteSteps: number;
  /** Why the run ended. */
  stopReason: StopReason;
}

interface LoopState {
  epoch: number;
  /** Micro-batches of `epoch` already done. */
  batch: number;
  step: number;
  best: Record<string, number>;
  bestEpoch: number;
  badEpochs: number;
  wall: number;
  averageUpdates: number;
  nonFiniteSteps: number;
}

/** Runs a {@linkcode TrainingTask}; see the module doc for what it does. */
export class Trainer<B> {
  readonly #o: Required<Omit<TrainerOptions, "bestMetric" | "maxMinutes" | "patience">> & {
    maxMinutes: number;
    patience: number;
  };
  readonly #params: Tensor[];
  readonly #names: [string, Tensor][];
  /** The weight average, when `averageDecay` > 0. */
  readonly average: WeightAverage | null;
  readonly #bestMetric: string | null;

  /** A trainer for `task`; nothing runs until {@linkcode fit}. */
  constructor(readonly task: TrainingTask<B>, options: TrainerOptions) {
    this.#o = {
      resume: false,
      saveEvery: 50,
      maxSteps: 0,
      maxMinutes: Infinity,
      patience: Infinity,
      bestMode: "max",
      gradAccum: 1,
      clipNorm: 1,
      averageDecay: 0,
      progressTerms: [task.lossTerms[0]],
      log: console.log,
      now: () => performance.now(),
      progressWrite: (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)),
      ...options,
    };
    if (!(this.#o.gradAccum >= 1 && Number.isInteger(this.#o.gradAccum))) {
      throw new Error(`Trainer: gradAccum must be a positive integer, got ${this.#o.gradAccum}`);
    }
    this.#names = task.model.namedParameters().filter(([, t]) => t.requiresGrad);
    this.#params = this.#names.map(([, t]) => t);
    this.average = this.#o.averageDecay > 0
      ? new WeightAverage(this.#params, this.#o.averageDecay)
      : null;
    this.#bestMetric = options.bestMetric ?? task.metrics?.[0] ?? null;
    if (this.#bestMetric && task.metrics && !task.metrics.includes(this.#bestMetric)) {
      throw new Error(
        `Trainer: best metric "${this.#bestMetric}" is not one of the task's metrics ` +
          `(${task.metrics.join(", ")})`,
      );
    }
  }

  /** Paths inside the run directory. */
  get paths(): { last: string; best: string; log: string; epochs: string } {
    const out = this.#o.out;
    return {
      last: `${out}/last`,
      best: `${out}/best`,
      log: `${out}/train_log.csv`,
      epochs: `${out}/epochs.csv`,
    };
  }

  /** Trains until the epochs, the patience, the step limit or the time budget run out. */
  async fit(): Promise<FitResult> {
    const o = this.#o, task = this.task, p = this.paths;
    const started = o.now();
    await Deno.mkdir(o.out, { recursive: true });
    const stepsPerEpoch = Math.ceil(task.batches(0).length / o.gradAccum);
    const totalSteps = stepsPerEpoch * o.epochs;
    let state: LoopState = {
      epoch: 0,
      batch: 0,
      step: 0,
      best: {},
      bestEpoch: -1,
      badEpochs: 0,
      wall: 0,
      averageUpdates: 0,
      nonFiniteSteps: 0,
    };
    const resuming = o.resume && (await this.#hasCheckpoint());
    if (o.resume && !resuming) o.log(`resume: no checkpoint in ${p.last}, starting fresh`);
    if (resuming) {
      state = await this.#restore();
      o.log(
        `resumed from ${p.last}: epoch ${
          state.epoch + 1
        }, batch ${state.batch}, step ${state.step}`,
      );
    }
    const columns = [
      ...trainingLogColumns(task.lossTerms),
      ...(task.logColumns ?? []),
      "syncs",
    ];
    const evalColumns = ["step", "epoch", ...(task.metrics ?? []).map((m) => `val_${m}`)];
    const csv = resuming
      ? CsvLog.resume(p.log, columns, state.step)
      : CsvLog.create(p.log, columns);
    const epochCsv = resuming
      ? CsvLog.resume(p.epochs, evalColumns, state.step, [])
      : CsvLog.create(p.epochs, evalColumns, []);

    let clock = o.now();
    const saveLast = async () => {
      state.wall += (o.now() - clock) / 1000;
      clock = o.now();
      state.averageUpdates = this.average?.updates ?? 0;
      await this.#save(state);
    };
    const firstStep = state.step;
    const progress = new Progress(totalSteps - firstStep, {
      label: o.label,
      now: o.now,
      write: o.progressWrite,
    });
    const budgetMs = o.maxMinutes * 60_000 - state.wall * 1000;
    let stepMs = 0, timedSteps = 0, timedSyncs = 0;
    let stopReason: StopReason | null = null;
    const withAveraged = <T>(fn: () => Promise<T>) =>
      this.average ? this.average.withAveraged(fn) : fn();

    for (; state.epoch < o.epochs && !stopReason; state.epoch++, state.batch = 0) {
      task.model.train();
      const batches = task.batches(state.epoch);
      while (state.batch < batches.length) {
        const t0 = o.now();
        const syncs0 = counters.syncs;
        const micro = batches.slice(state.batch, state.batch + o.gradAccum);
        const ctx: StepContext = {
          step: state.step,
          totalSteps,
          progress: state.step / totalSteps,
          epoch: state.epoch,
        };
        task.beforeStep?.(ctx);
        const logged = task.logValues?.(ctx) ?? {};
        manualSeed(o.seed * 1_000_003 + state.step);
        const lr = task.optimizer.currentLr();
        const readback = tidy(() =>
          optimizerStep(
            {
              params: this.#params,
              optimizer: task.optimizer,
              average: this.average,
              clipNorm: o.clipNorm,
            },
            micro.map((b) => () => task.loss(b, ctx)),
          )
        );
        const values = await readback.data();
        readback.dispose();
        state.step++;
        state.batch += micro.length;
        const ms = o.now() - t0;
        if (state.step > firstStep + 1) {
          stepMs += ms;
          timedSteps++;
          timedSyncs += counters.syncs - syncs0;
        }
        const terms = Object.fromEntries(task.lossTerms.map((n, i) => [n, values[i]]));
        if (!Number.isFinite(values[0])) {
          state.nonFiniteSteps++;
          o.log(`\nstep ${state.step}: non-finite loss (${values[0]}); the update was skipped`);
        }
        const tokens = task.tokens ? micro.reduce((n, b) => n + task.tokens!(b), 0) : 0;
        csv.append({
          step: state.step,
          epoch: state.epoch + (state.batch - micro.length) / batches.length,
          ...terms,
          lr,
          grad_norm: values[task.lossTerms.length],
          tokens_per_s: Math.round(tokens / (ms / 1000)),
          wall_s: Math.round(state.wall + (o.now() - clock) / 1000),
          ...logged,
          syncs: counters.syncs - syncs0,
        });
        const shown = o.progressTerms.map((n) => `${n} ${terms[n].toFixed(3)}`).join(" ");
        progress.update(
          state.step - firstStep,
          `step ${state.step} epoch ${state.epoch + 1}/${o.epochs} ${shown} ${
            ms.toFixed(0)
          } ms/step`,
        );
        if (o.maxSteps && state.step >= o.maxSteps) {
          await saveLast();
          stopReason = "max-steps";
          break;
        }
        if (state.step % o.saveEvery === 0) await saveLast();
        if (o.now() - started > budgetMs) {
          o.log(`\ntime budget of ${o.maxMinutes} min reached; stopping after step ${state.step}`);
          stopReason = "budget";
          break;
        }
      }
      if (stopReason === "max-steps") break;
      if (task.evaluate) {
        const metrics = await withAveraged(() => task.evaluate!());
        epochCsv.append({
          step: state.step,
          epoch: state.epoch + 1,
          ...Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`val_${k}`, v])),
        });
        o.log(
          `\nepoch ${state.epoch + 1}: val ${
            Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" ")
          }`,
        );
        if (this.#improves(metrics, state.best)) {
          Object.assign(state, { best: metrics, bestEpoch: state.epoch + 1, badEpochs: 0 });
          if (task.saveBest) {
            await withAveraged(() => task.saveBest!(p.best));
            o.log(`  new best → ${p.best}`);
          }
        } else if (++state.badEpochs >= o.patience) {
          o.log(`  no improvement for ${o.patience} epochs: early stop`);
          stopReason = "patience";
        }
      }
      if (!stopReason) {
        state.batch = batches.length;
        await saveLast();
      }
    }
    progress.finish(stopReason ? `stopped: ${stopReason}` : "", state.step - firstStep);
    csv.close(`${o.label} losses`);
    return {
      best: state.best,
      bestEpoch: state.bestEpoch,
      steps: state.step,
      wallSeconds: state.wall + (o.now() - clock) / 1000,
      msPerStep: timedSteps ? stepMs / timedSteps : 0,
      syncsPerStep: timedSteps ? timedSyncs / timedSteps : 0,
      nonFiniteSteps: state.nonFiniteSteps,
      stopReason: stopReason ?? "epochs",
    };
  }

  /** Frees the weight average (the task owns its model and optimizer). */
  dispose(): void {
    this.average?.dispose();
  }

  #improves(metrics: Record<string, number>, best: Record<string, number>): boolean {
    const name = this.#bestMetric;
    if (!name) return false;
    const value = metrics[name];
    if (value === undefined) {
      throw new Error(`Trainer: evaluate() returned no "${name}" (got ${Object.keys(metrics)})`);
    }
    if (best[name] === undefined) return true;
    return this.#o.bestMode === "max" ? value > best[name] : value < best[name];
  }

  #averagedNames(): [string, Tensor][] {
    return this.average
      ? this.#names.map((
        [n],
        i,
      ): [string, Tensor] => [`${AVERAGE_PREFIX}${n}`, this.average!.shadows[i]])
      : [];
  }

  async #hasCheckpoint(): Promise<boolean> {
    return await recoverCheckpoint(this.paths.last);
  }

  async #save(state: LoopState): Promise<void> {
    await saveCheckpoint(this.paths.last, {
      // Frozen tables (e.g. pretrained word vectors) too: a resumed run need not re-read them.
      model: Object.fromEntries([...this.task.model.namedParameters(), ...this.#averagedNames()]),
      optimizer: this.task.optimizer,
      names: this.#names,
      step: state.step,
      extra: { ...state },
    });
  }

  async #restore(): Promise<LoopState> {
    const last = this.paths.last;
    const ck = await loadCheckpoint(last, { optimizer: this.task.optimizer, names: this.#names });
    const entries = Object.entries(ck.tensors);
    try {
      this.task.model.loadStateDict(
        Object.fromEntries(entries.filter(([k]) => !k.startsWith(AVERAGE_PREFIX))),
      );
      const state = ck.extra as unknown as LoopState;
      if (this.average) {
        const shadows = this.#averagedNames().map(([k]) => ck.tensors[k]);
        if (shadows.some((t) => !t)) {
          throw new Error(
            `${last}: averaged weights (${AVERAGE_PREFIX}…) missing; the run was started ` +
              `without a weight average, so resume without one`,
          );
        }
        this.average.load(shadows, state.averageUpdates);
      }
      return state;
    } finally {
      for (const [, t] of entries) t.dispose();
    }
  }
}
