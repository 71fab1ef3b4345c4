/**
 * DBSCAN (Ester et al. 1996): a point with at least `minSamples` points (itself included, as in
 * scikit-learn) within distance `eps` is a core point; clusters are the connected groups of core
 * points plus the non-core points within `eps` of one (a border point joins the first cluster that
 * reaches it, in order of the points); the rest is noise (label −1). Neighbourhoods by brute force,
 * O(n²·dim) on the CPU.
 *
 * @module
 */
import { type Points, squaredDistance } from "./points.ts";

/** Options of {@linkcode dbscan}. */
export interface DbscanOptions {
  /** Neighbourhood radius (Euclidean distance, > 0). */
  eps: number;
  /** Points within `eps`, the point itself included, that make a core point (integer ≥ 1). */
  minSamples: number;
}

/** Cluster of each point (−1: noise); clusters numbered in order of their first core point. */
export function dbscan(x: Points, options: DbscanOptions): Int32Array {
  const { eps, minSamples } = options;
  if (!(eps > 0)) throw new Error(`DBSCAN: eps must be > 0, got ${eps}`);
  if (!Number.isInteger(minSamples) || minSamples < 1) {
    throw new Error(`DBSCAN: minSamples must be an integer ≥ 1, got ${minSamples}`);
  }
  const eps2 = eps * eps;
  const neighbours: number[][] = Array.from({ length: x.n }, () => []);
  for (let i = 0; i < x.n; i++) {
    neighbours[i].push(i);
    for (let j = i + 1; j < x.n; j++) {
      if (squaredDistance(x, i, x, j) <= eps2) {
        neighbours[i].push(j);
        neighbours[j].push(i);
      }
    }
  }
  const core = neighbours.map((nb) => nb.length >= minSamples);
  const labels = new Int32Array(x.n).fill(-1);
  let next = 0;
  for (let i = 0; i < x.n; i++) {
    if (!core[i] || labels[i] !== -1) continue;
    const id = next++;
    labels[i] = id;
    const queue = [i];
    while (queue.length > 0) {
      const p = queue.pop()!;
      for (const q of neighbours[p]) {
        if (labels[q] !== -1) continue;
        labels[q] = id;
        if (core[q]) queue.push(q);
      }
    }
  }
  return labels;
}

/**
 * Distance of each point to its `k`-th nearest other point, sorted ascending: the usual guide for
 * choosing `eps` (the "knee" of this curve), and what the eps sweep samples quantiles of.
 */
export function kthNeighbourDistances(x: Points, k: number): number[] {
  const out: number[] = [];
  const row = new Float64Array(x.n);
  for (let i = 0; i < x.n; i++) {
    for (let j = 0; j < x.n; j++) row[j] = j === i ? Infinity : squaredDistance(x, i, x, j);
    out.push(Math.sqrt(kthSmallest(row, Math.min(k, x.n - 1) - 1)));
  }
  return out.sort((a, b) => a - b);
}

/** The `r`-th smallest value (0-based) of `values` (reorders a copy). */
export function kthSmallest(values: Float64Array, r: number): number {
  const a = Float64Array.from(values);
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        [a[i], a[j]] = [a[j], a[i]];
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return a[r];
  }
  return a[r];
}
