/**
 * The host process's resident memory over a run of train:absa steps on variable-length batches
 * (the memory group's RSS report), beside the buffer pool's bytes: on lavapipe GPU buffers live in
 * host memory, so RSS growth that tracks the pool's growth is the pool reaching its high-water
 * mark over the batch shapes seen, not a leak.
 *
 * @module
 */
import { poolStats } from "../core/buffer_pool.ts";
import { runtimeStats } from "../kernels/runtime.ts";
import { absaStepRunner } from "./ours_absa_step.ts";
import type { AbsaStepShape } from "./shapes.ts";

/** One sample of the run. */
export interface RssSample {
  step: number;
  rssBytes: number;
  /** Live + pooled bytes of the buffer pool. */
  poolBytes: number;
  pipelines: number;
}

const MIB = 2 ** 20;

/** Runs `steps` variable-length train:absa steps, sampling at step 1, 10, 20, 50 and every 50th. */
export async function rssOverSteps(a: AbsaStepShape, steps: number): Promise<RssSample[]> {
  const runner = absaStepRunner(a, Infinity);
  const samples: RssSample[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      await runner.run();
      if (step === 1 || step === 10 || step === 20 || step % 50 === 0 || step === steps) {
        const pool = poolStats();
        samples.push({
          step,
          rssBytes: Deno.memoryUsage().rss,
          poolBytes: pool.liveBytes + pool.pooledBytes,
          pipelines: runtimeStats().pipelines,
        });
      }
    }
  } finally {
    runner.dispose();
  }
  return samples;
}

/** The RSS section of bench/RESULTS.md. */
export async function rssSection(a: AbsaStepShape, steps: number): Promise<string> {
  const samples = await rssOverSteps(a, steps);
  const mib = (x: number) => (x / MIB).toFixed(0);
  return [
    `## Process memory over ${steps} train:absa steps (variable-length batches)`,
    "",
    "RSS is `Deno.memoryUsage().rss`; pool is the live + pooled bytes of the GPU buffer pool " +
    "(host memory on lavapipe).",
    "",
    "| step | RSS MiB | pool MiB | pipelines |",
    "| --- | --- | --- | --- |",
    ...samples.map((s) =>
      `| ${s.step} | ${mib(s.rssBytes)} | ${mib(s.poolBytes)} | ${s.pipelines} |`
    ),
  ].join("\n");
}
