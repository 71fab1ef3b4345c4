/**
 * Paired bootstrap of a mean difference: is system A's per-item score above system B's on the same
 * items by more than resampling noise?
 *
 * @module
 */
import { Rng } from "../random.ts";

/** A mean paired difference with its percentile bootstrap interval. */
export interface PairedDifference {
  /** Mean of `a[i] − b[i]` over the items. */
  diff: number;
  /** Lower end of the interval. */
  lo: number;
  /** Upper end of the interval. */
  hi: number;
  /** Coverage of the interval (e.g. 0.95). */
  level: number;
  /** Number of resamples drawn. */
  resamples: number;
  /** Items scored. */
  n: number;
}

/** How {@linkcode pairedBootstrap} resamples. */
export interface BootstrapOptions {
  /** Resamples (default 2000). */
  resamples?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Seed of the resampling stream (default 1), so a report is reproducible. */
  seed?: number;
}

/**
 * The mean of `a[i] − b[i]` and its percentile interval over `resamples` resamples of the items
 * with replacement (the same items for both systems, which is what makes it paired).
 */
export function pairedBootstrap(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions = {},
): PairedDifference {
  const { resamples = 2000, level = 0.95, seed = 1 } = options;
  if (a.length !== b.length) {
    throw new Error(`pairedBootstrap: ${a.length} scores against ${b.length}; they must pair up`);
  }
  if (!(level > 0 && level < 1)) throw new Error(`pairedBootstrap: level ${level} not in (0, 1)`);
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new Error(`pairedBootstrap: resamples must be a positive integer, got ${resamples}`);
  }
  const n = a.length;
  if (n === 0) return { diff: 0, lo: 0, hi: 0, level, resamples, n };
  const d = a.map((x, i) => x - b[i]);
  const diff = d.reduce((s, x) => s + x, 0) / n;
  const rng = new Rng(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[rng.int(n)];
    means[r] = s / n;
  }
  means.sort();
  const tail = (1 - level) / 2;
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))];
  return { diff, lo: at(tail), hi: at(1 - tail), level, resamples, n };
}
