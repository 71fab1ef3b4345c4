/**
 * Wraps a runner of ours so that its record also carries GPU→CPU syncs per run and the pool's
 * footprint: the peak of live + pooled bytes over the runs, and how much it grew between the first
 * run and the last (0 when memory is flat).
 *
 * @module
 */
import { counters, poolStats } from "../mod.ts";
import type { BenchRecord, Runner } from "./harness.ts";

function poolBytes(): number {
  const s = poolStats();
  return s.liveBytes + s.pooledBytes;
}

/** A runner that counts syncs and tracks pool bytes across its runs. */
export function countingRunner(inner: Runner): Runner {
  let runs = 0;
  let syncs = 0;
  let peak = 0;
  let afterFirst = 0;
  let afterLast = 0;
  return {
    async run() {
      const before = counters.syncs;
      await inner.run();
      syncs += counters.syncs - before;
      runs++;
      afterLast = poolBytes();
      if (runs === 1) afterFirst = afterLast;
      peak = Math.max(peak, afterLast);
    },
    dispose() {
      inner.dispose();
    },
    extra(): Partial<BenchRecord> {
      return {
        syncs_per_step: runs ? Number((syncs / runs).toFixed(2)) : 0,
        peak_bytes: peak,
        growth_bytes: afterLast - afterFirst,
      };
    },
  };
}
