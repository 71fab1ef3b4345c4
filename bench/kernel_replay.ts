/**
 * GPU time per kernel family of one recorded training step, measured by replay: every dispatch of
 * the step is recorded (pipeline, bind group, uniform words, grid) and the whole step is replayed
 * in its original order, once as recorded and once per family with that family's dispatches
 * repeated `reps` extra times in place; the family's time is the difference / `reps`. Time is
 * the CPU time of the driver's threads where `/proc` shows it (on lavapipe they run the kernels;
 * unlike wall time it does not grow when other processes share the cores), wall time otherwise. Replaying in
 * order keeps the data each kernel reads what it was in the step (kernels whose loops depend on
 * index data, such as the embedding backward's sort, would otherwise run on garbage).
 * Timestamp queries cannot do this on lavapipe: they miss most of a small dispatch's cost.
 *
 * The replay writes into the buffers the step used (an optimizer step is applied again, for
 * example), so a model is useless afterwards: run it last, then dispose.
 *
 * @module
 */
import { gpu } from "../core/device.ts";
import { flush, setDispatchTrace, type TracedDispatch } from "../kernels/runtime.ts";
import { threadCpu } from "./thread_cpu.ts";

/** The replayed time of one kernel family over the step. */
export interface FamilyTime {
  family: string;
  /** Dispatches of it in the step. */
  calls: number;
  /** Milliseconds over those dispatches. */
  ms: number;
}

/** Runs `step` once while recording its dispatches and returns them. */
export async function recordDispatches(step: () => Promise<void>): Promise<TracedDispatch[]> {
  const recorded: TracedDispatch[] = [];
  setDispatchTrace((d) => recorded.push(d));
  try {
    await step();
  } finally {
    setDispatchTrace(null);
  }
  return recorded;
}

/**
 * Replays the dispatches in order, each `times(d)` times, and returns the milliseconds it took
 * (driver CPU, else wall). A step spans several submits whose uniform slots repeat, so the
 * replay submits one run of distinct slots at a time, after writing that run's uniform words.
 */
async function replayOnce(
  recorded: TracedDispatch[],
  times: (d: TracedDispatch) => number,
): Promise<number> {
  const d = gpu();
  const t0 = performance.now();
  const cpu0 = threadCpu();
  let i = 0;
  while (i < recorded.length) {
    const used = new Set<number>();
    const encoder = d.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (; i < recorded.length && !used.has(recorded[i].uniformOffset); i++) {
      const r = recorded[i];
      used.add(r.uniformOffset);
      d.queue.writeBuffer(r.uniformBuffer, r.uniformOffset, r.params);
      pass.setPipeline(r.pipeline);
      pass.setBindGroup(0, r.bindGroup);
      for (let k = times(r); k > 0; k--) pass.dispatchWorkgroups(...r.workgroups);
    }
    pass.end();
    d.queue.submit([encoder.finish()]);
  }
  await d.queue.onSubmittedWorkDone();
  const cpu1 = threadCpu();
  return cpu0 && cpu1 ? cpu1.otherMs - cpu0.otherMs : performance.now() - t0;
}

/**
 * GPU time per family (`familyOf(kernel name)`), largest first, plus the plain replay's total.
 * Costs (2 + families) replays of the step plus `reps` × its GPU time.
 */
export async function replayFamilies(
  recorded: TracedDispatch[],
  familyOf: (kernel: string) => string,
  reps = 3,
): Promise<{ totalMs: number; families: FamilyTime[] }> {
  flush();
  await gpu().queue.onSubmittedWorkDone();
  const names = [...new Set(recorded.map((r) => familyOf(r.kernel)))];
  const before = await replayOnce(recorded, () => 1);
  const families: FamilyTime[] = [];
  for (const family of names) {
    const t = await replayOnce(recorded, (r) => (familyOf(r.kernel) === family ? 1 + reps : 1));
    const calls = recorded.filter((r) => familyOf(r.kernel) === family).length;
    families.push({ family, calls, ms: t });
  }
  const after = await replayOnce(recorded, () => 1);
  const base = (before + after) / 2;
  for (const f of families) f.ms = Math.max(0, f.ms - base) / reps;
  return { totalMs: base, families: families.sort((a, b) => b.ms - a.ms) };
}
