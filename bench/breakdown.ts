/**
 * Where a training step's wall time goes (`deno task bench step --breakdown`): host-side time of
 * the main thread (op construction and autograd, command encoding, submits, uploads, the wait
 * for the readback), CPU time of the other threads (on lavapipe: the driver running the kernels),
 * counts per step (dispatches, bind groups, uniform and upload bytes, pool traffic), and the GPU
 * time per kernel family from replays of one recorded step (see kernel_replay.ts).
 *
 * @module
 */
import { counters, hostTimes } from "../kernels/runtime.ts";
import { poolStats } from "../core/buffer_pool.ts";
import type { Runner } from "./harness.ts";
import type { AbsaStepShape } from "./shapes.ts";
import { absaStepRunner } from "./ours_absa_step.ts";
import { threadCpu } from "./thread_cpu.ts";
import { type FamilyTime, recordDispatches, replayFamilies } from "./kernel_replay.ts";

/** Per-step averages of one configuration of a step. */
export interface StepBreakdown {
  /** Which configuration, e.g. "fused" or "unfused". */
  label: string;
  /** Measured steps the averages cover. */
  steps: number;
  wallMs: number;
  /** CPU time of the main thread; null without `/proc`. */
  mainCpuMs: number | null;
  /** CPU time of every other thread of the process (the driver's, on lavapipe). */
  otherCpuMs: number | null;
  /** Wall time in the runtime's host calls (see `hostTimes`). */
  encodeMs: number;
  bindGroupMs: number;
  submitMs: number;
  uploadMs: number;
  waitMs: number;
  dispatches: number;
  bindGroups: number;
  submits: number;
  syncs: number;
  uniformBytes: number;
  uploadBytes: number;
  readbackBytes: number;
  /** Buffers handed out by the pool, and GPU buffers it had to create. */
  poolAcquires: number;
  poolCreated: number;
  /** GPU time of one replayed step, and per kernel family, largest first. */
  replayMs: number;
  families: FamilyTime[];
  /** Medians over runs interleaved with the other configurations' (see {@linkcode interleavedMedians}). */
  interleaved?: { wallMs: number; otherCpuMs: number | null };
}

/**
 * Runs the runners in turn, `rounds` times (the order alternating each round, so a change of
 * the machine's load hits all alike), after one warm-up run each; returns each runner's median
 * wall time and other-thread CPU time per run.
 */
export async function interleavedMedians(
  runners: Runner[],
  rounds: number,
): Promise<{ wallMs: number; otherCpuMs: number | null }[]> {
  for (const r of runners) await r.run();
  const walls: number[][] = runners.map(() => []);
  const cpus: number[][] = runners.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = runners.map((_, i) => (round % 2 ? runners.length - 1 - i : i));
    for (const i of order) {
      const c0 = threadCpu();
      const t0 = performance.now();
      await runners[i].run();
      const c1 = threadCpu();
      walls[i].push(performance.now() - t0);
      if (c0 && c1) cpus[i].push(c1.otherMs - c0.otherMs);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return runners.map((_, i) => ({
    wallMs: median(walls[i]),
    otherCpuMs: cpus[i].length ? median(cpus[i]) : null,
  }));
}

function snapshot() {
  const pool = poolStats();
  return {
    t: performance.now(),
    cpu: threadCpu(),
    c: { ...counters },
    h: { ...hostTimes },
    acquires: pool.acquires,
    created: pool.createdBuffers,
  };
}

/** The family a kernel's time is reported under. */
export function kernelFamily(name: string): string {
  const families: [RegExp, string][] = [
    [/^matmul_tex/, "matmul products"],
    [/^matmul_pack/, "matmul operand packing"],
    [/^optim_/, "optimizer (norm, clip, AdamW)"],
    [/^cross_entropy/, "cross-entropy"],
    [/^(scatter_|gather_)/, "embedding gather/scatter"],
    [/^strided_/, "strided copies (permute, slice, concat)"],
    [/norm/, "layerNorm/RMSNorm"],
    [/^softmax/, "softmax"],
    [/^(binary_|unary_|dropout)/, "elementwise and dropout"],
    [/^reduce_/, "reductions (sumTo, mean)"],
    [/^fill_/, "fills"],
  ];
  return families.find(([re]) => re.test(name))?.[1] ?? "other";
}

/**
 * Runs `runner` for `warmup` + `steps` steps, averages the host figures over the measured steps,
 * then records one more step and replays it for the per-family GPU times. The replay leaves the
 * runner's state altered: dispose it afterwards.
 */
export async function measureBreakdown(
  label: string,
  runner: Runner,
  steps = 3,
  warmup = 2,
): Promise<StepBreakdown> {
  for (let i = 0; i < warmup; i++) await runner.run();
  const a = snapshot();
  for (let i = 0; i < steps; i++) await runner.run();
  const b = snapshot();
  const per = (x: number) => x / steps;
  const dc = (k: keyof typeof counters) => per(b.c[k] - a.c[k]);
  const dh = (k: keyof typeof hostTimes) => per(b.h[k] - a.h[k]);
  const recorded = await recordDispatches(() => Promise.resolve(runner.run()));
  const replay = await replayFamilies(recorded, kernelFamily);
  return {
    label,
    steps,
    wallMs: per(b.t - a.t),
    mainCpuMs: a.cpu && b.cpu ? per(b.cpu.mainMs - a.cpu.mainMs) : null,
    otherCpuMs: a.cpu && b.cpu ? per(b.cpu.otherMs - a.cpu.otherMs) : null,
    encodeMs: dh("encode"),
    bindGroupMs: dh("bindGroup"),
    submitMs: dh("submit"),
    uploadMs: dh("upload"),
    waitMs: dh("wait"),
    dispatches: dc("dispatches"),
    bindGroups: dc("bindGroups"),
    submits: dc("submits"),
    syncs: dc("syncs"),
    uniformBytes: dc("uniformBytes"),
    uploadBytes: dc("uploadBytes"),
    readbackBytes: dc("readbackBytes"),
    poolAcquires: per(b.acquires - a.acquires),
    poolCreated: per(b.created - a.created),
    replayMs: replay.totalMs,
    families: replay.families,
  };
}

const ms = (x: number | null) => (x === null ? "n/a" : x.toFixed(0));
const count = (x: number) => (Number.isInteger(x) ? `${x}` : x.toFixed(1));
const kib = (x: number) => (x < 1024 ? `${x.toFixed(0)} B` : `${(x / 1024).toFixed(1)} KiB`);

/** A Markdown table with one column per configuration. */
export function breakdownMarkdown(list: StepBreakdown[]): string {
  const row = (name: string, f: (b: StepBreakdown) => string) =>
    `| ${name} | ${list.map(f).join(" | ")} |`;
  const familyNames = [...new Set(list.flatMap((b) => b.families.map((f) => f.family)))];
  const family = (b: StepBreakdown, name: string) => {
    const f = b.families.find((x) => x.family === name);
    return f ? `${f.ms.toFixed(0)} (${f.calls})` : "—";
  };
  const mainJs = (b: StepBreakdown) =>
    b.mainCpuMs === null ? "n/a" : ms(Math.max(0, b.mainCpuMs - b.encodeMs - b.uploadMs));
  const paired = list.every((b) => b.interleaved);
  const first = list[0].interleaved;
  return [
    `| per step (ms unless stated) | ${list.map((b) => b.label).join(" | ")} |`,
    `| --- | ${list.map(() => "---").join(" | ")} |`,
    ...(paired
      ? [
        row("wall time, median of interleaved runs", (b) => ms(b.interleaved!.wallMs)),
        row("· relative to the first column", (b) =>
          `${(b.interleaved!.wallMs / first!.wallMs).toFixed(2)}×`),
        row("driver CPU, median of interleaved runs", (b) =>
          ms(b.interleaved!.otherCpuMs)),
      ]
      : []),
    row("wall time", (b) => ms(b.wallMs)),
    row("main-thread CPU", (b) => ms(b.mainCpuMs)),
    row("· of which JS: op construction, autograd, pool (CPU − encoding − uploads)", mainJs),
    row("· command encoding (dispatch calls, uniforms, bind groups)", (b) => ms(b.encodeMs)),
    row("· · createBindGroup", (b) => ms(b.bindGroupMs)),
    row("submits (wall, blocks while the driver takes the work)", (b) => ms(b.submitMs)),
    row("uploads (writeBuffer)", (b) => ms(b.uploadMs)),
    row("waiting for the readback (the sync)", (b) => ms(b.waitMs)),
    row("CPU of the other threads (lavapipe: the kernels)", (b) => ms(b.otherCpuMs)),
    row("GPU time of the step replayed alone (driver CPU)", (b) => ms(b.replayMs)),
    ...familyNames.map((n) => row(`· ${n} (dispatches)`, (b) => family(b, n))),
    row("dispatches", (b) => count(b.dispatches)),
    row("bind groups created", (b) => count(b.bindGroups)),
    row("submits / syncs", (b) => `${count(b.submits)} / ${count(b.syncs)}`),
    row("uniform bytes written", (b) => kib(b.uniformBytes)),
    row("bytes uploaded / read back", (b) => `${kib(b.uploadBytes)} / ${kib(b.readbackBytes)}`),
    row(
      "pool: buffers handed out / newly created",
      (b) => `${count(b.poolAcquires)} / ${count(b.poolCreated)}`,
    ),
  ].join("\n");
}

/**
 * The breakdown section of bench/RESULTS.md for the train:absa step at shape `a`, with the
 * engine's fast paths on and off (kernels/fast_paths.ts): medians of interleaved runs first, then
 * each configuration's host figures and kernel replay.
 */
export async function stepBreakdownSection(a: AbsaStepShape, tiny: boolean): Promise<string> {
  const configs: [string, Runner][] = [
    ["fast paths on", absaStepRunner(a)],
    ["fast paths off", absaStepRunner(a, 0, false)],
  ];
  const list: StepBreakdown[] = [];
  try {
    const medians = await interleavedMedians(configs.map(([, r]) => r), tiny ? 1 : 5);
    for (const [i, [label, runner]] of configs.entries()) {
      const b = await measureBreakdown(label, runner, tiny ? 1 : 3, tiny ? 0 : 1);
      list.push({ ...b, interleaved: medians[i] });
    }
  } finally {
    for (const [, r] of configs) r.dispose();
  }
  const steps = list[0].steps;
  return [
    "## Where the train:absa step's time goes",
    "",
    `Medians of ${tiny ? 1 : 5} runs of each configuration interleaved; then averages over ` +
    `${steps} steps of each after warm-up; GPU time per kernel family from in-order ` +
    "replays of one recorded step (bench/kernel_replay.ts), each family's dispatches repeated " +
    "to measure it (driver CPU time: it does not grow when other processes share the cores).",
    "",
    breakdownMarkdown(list),
  ].join("\n");
}
