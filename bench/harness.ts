/**
 * The timing harness shared by our cases and the Deno peers: warm-up, then at least five timed
 * runs (more while they fit a small time budget), reported as median, min and max. Each run must
 * include GPU completion — the case's `run` awaits it.
 *
 * @module
 */

/** Bench groups, selectable on the command line. */
export type Group = "kernels" | "step" | "memory" | "retrieval";

/** The groups in their run order. */
export const GROUPS: readonly Group[] = ["kernels", "step", "memory", "retrieval"];

/** One measured case of one implementation: the line `--json` prints. */
export interface BenchRecord {
  group: Group;
  /** What is measured, e.g. "matmul" or "mlp step"; the same name across implementations. */
  name: string;
  /** Who ran it: "ours", "tfjs-webgpu", "jax-js-wasm", "pytorch-cpu", … */
  impl: string;
  /** The shape label; the same across implementations. */
  shape: string;
  /** Median milliseconds per run. */
  ms: number;
  min: number;
  max: number;
  /** Timed runs. */
  n: number;
  /** Adapter or CPU that ran it. */
  adapter: string;
  gflops?: number;
  /** Memory bandwidth in GB/s for bandwidth-bound cases. */
  gbps?: number;
  tokens_per_s?: number;
  /** GPU→CPU synchronisations per run (ours only). */
  syncs_per_step?: number;
  /** Peak bytes held by the buffer pool (live + pooled) over the runs (memory group, ours). */
  peak_bytes?: number;
  /** Bytes the pool grew by between the first and the last timed run; 0 means flat memory. */
  growth_bytes?: number;
}

/** A prepared case: `run` does the work once, GPU completion included. */
export interface Runner {
  run(): Promise<void> | void;
  dispose(): void;
  /** Figures gathered over the runs (syncs per step, peak bytes), merged into the record. */
  extra?(): Partial<BenchRecord>;
}

/** What one case contributes besides its timing. */
export interface CaseInfo {
  group: Group;
  name: string;
  shape: string;
  /** Floating-point operations per run, for GFLOP/s. */
  flops?: number;
  /** Bytes moved per run, for GB/s. */
  bytes?: number;
  /** Tokens processed per run, for tokens/s. */
  tokens?: number;
}

/** How many runs to do. */
export interface TimingOptions {
  warmup: number;
  /** Minimum timed runs. */
  runs: number;
  /** Keep running (up to `maxRuns`) while the total stays under this many ms. */
  budgetMs: number;
  maxRuns: number;
}

/** Full timing: 2 warm-ups, ≥ 5 timed runs, more for fast cases. */
export const FULL_TIMING: TimingOptions = { warmup: 2, runs: 5, budgetMs: 1500, maxRuns: 25 };
/** Smoke-test timing: no warm-up, one run. */
export const TINY_TIMING: TimingOptions = { warmup: 0, runs: 1, budgetMs: 0, maxRuns: 1 };

/** Median, min and max of run times. */
export interface Timing {
  ms: number;
  min: number;
  max: number;
  n: number;
}

/** Times `run` after warm-up. */
export async function time(run: () => Promise<void> | void, o: TimingOptions): Promise<Timing> {
  for (let i = 0; i < o.warmup; i++) await run();
  const times: number[] = [];
  let total = 0;
  while (times.length < o.runs || (total < o.budgetMs && times.length < o.maxRuns)) {
    const t0 = performance.now();
    await run();
    const dt = performance.now() - t0;
    times.push(dt);
    total += dt;
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { ms: median, min: times[0], max: times[times.length - 1], n: times.length };
}

/** Rounds to 3 significant digits for printing and JSON. */
export function round3(x: number): number {
  return Number(x.toPrecision(3));
}

/** Builds the record of a case from its timing: rates are computed from the median. */
export function toRecord(info: CaseInfo, impl: string, adapter: string, t: Timing): BenchRecord {
  const r: BenchRecord = {
    group: info.group,
    name: info.name,
    impl,
    shape: info.shape,
    ms: round3(t.ms),
    min: round3(t.min),
    max: round3(t.max),
    n: t.n,
    adapter,
  };
  const seconds = t.ms / 1000;
  if (info.flops) r.gflops = round3(info.flops / seconds / 1e9);
  if (info.bytes) r.gbps = round3(info.bytes / seconds / 1e9);
  if (info.tokens) r.tokens_per_s = round3(info.tokens / seconds);
  return r;
}

/** A case of a Deno implementation: its info and a function that prepares its runner. */
export interface BenchCase {
  info: CaseInfo;
  prepare(): Promise<Runner> | Runner;
}

/**
 * Runs the cases of the selected groups one after another and hands each record to `emit`.
 * A case that throws is reported through `onError` and skipped, so one broken case never stops
 * the run.
 */
export async function runCases(
  cases: BenchCase[],
  impl: string,
  adapter: string,
  timing: TimingOptions,
  emit: (r: BenchRecord) => void,
  onError: (info: CaseInfo, e: unknown) => void,
): Promise<void> {
  for (const c of cases) {
    let runner: Runner | null = null;
    try {
      runner = await c.prepare();
      const r = runner;
      const record = toRecord(c.info, impl, adapter, await time(() => r.run(), timing));
      emit({ ...record, ...r.extra?.() });
    } catch (e) {
      onError(c.info, e);
    } finally {
      runner?.dispose();
    }
  }
}
