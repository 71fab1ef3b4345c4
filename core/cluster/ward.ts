/**
 * Agglomerative clustering with Ward's criterion, returned as a linkage matrix in SciPy's format
 * (`scipy.cluster.hierarchy.linkage(X, "ward")`): row i merges clusters `a < b` (ids < n are
 * points, id n + j is the cluster formed by row j) at distance `dist` into a cluster of `size`
 * points, rows sorted by distance. Built with the nearest-neighbour chain algorithm on a condensed
 * f64 matrix of squared distances updated by the Lance–Williams formula for Ward:
 * d²(k, i∪j) = ((nᵢ+nₖ)·d²(k,i) + (nⱼ+nₖ)·d²(k,j) − nₖ·d²(i,j)) / (nᵢ+nⱼ+nₖ); the reported
 * distance is its square root, as SciPy reports it. Time O(n²), memory n²/2 f64 (`maxPoints`
 * guards it).
 *
 * @module
 */
import { type Points, squaredDistance } from "./points.ts";

/** One merge: `[a, b, distance, size]` as SciPy writes it. */
export type LinkageRow = [number, number, number, number];

/** Most points {@linkcode wardLinkage} accepts by default (n²/2 f64 = 200 MB at 7 071). */
export const WARD_MAX_POINTS = 7000;

/** The Ward linkage of `x`; throws above `maxPoints` points (the matrix would not fit). */
export function wardLinkage(x: Points, maxPoints = WARD_MAX_POINTS): LinkageRow[] {
  const n = x.n;
  if (n < 2) throw new Error(`Ward linkage needs at least 2 points, got ${n}`);
  if (n > maxPoints) {
    throw new Error(
      `Ward linkage of ${n} points needs ${(n * n * 4 / 1e6).toFixed(0)} MB of distances; the ` +
        `limit is ${maxPoints} points (cluster with k-means first, or sample)`,
    );
  }
  const d = new Float64Array((n * (n - 1)) / 2);
  const at = (i: number, j: number): number => {
    if (i > j) [i, j] = [j, i];
    return n * i - (i * (i + 1)) / 2 + (j - i - 1);
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) d[at(i, j)] = squaredDistance(x, i, x, j);
  }
  const size = new Float64Array(n).fill(1);
  const merges: LinkageRow[] = [];
  const chain: number[] = [];
  while (merges.length < n - 1) {
    if (chain.length === 0) chain.push(size.findIndex((s) => s > 0));
    let a: number, b: number, best: number;
    for (;;) {
      a = chain[chain.length - 1];
      const prev = chain.length > 1 ? chain[chain.length - 2] : -1;
      b = prev;
      best = prev >= 0 ? d[at(a, prev)] : Infinity;
      for (let k = 0; k < n; k++) {
        if (k === a || size[k] === 0) continue;
        const v = d[at(a, k)];
        if (v < best) {
          best = v;
          b = k;
        }
      }
      if (b === prev) break; // reciprocal nearest neighbours
      chain.push(b);
    }
    chain.length -= 2;
    if (a > b) [a, b] = [b, a];
    const na = size[a], nb = size[b];
    merges.push([a, b, Math.sqrt(Math.max(0, best)), na + nb]);
    // The merged cluster lives in slot b; slot a is retired.
    for (let k = 0; k < n; k++) {
      if (size[k] === 0 || k === a || k === b) continue;
      const nk = size[k];
      d[at(k, b)] = ((na + nk) * d[at(k, a)] + (nb + nk) * d[at(k, b)] - nk * best) /
        (na + nb + nk);
    }
    size[a] = 0;
    size[b] = na + nb;
  }
  return relabel(merges, n);
}

/** Sorts merges by distance (stable) and renames slots to SciPy's cluster ids (union–find). */
function relabel(merges: LinkageRow[], n: number): LinkageRow[] {
  const order = merges.map((_, i) => i).sort((i, j) => merges[i][2] - merges[j][2] || i - j);
  const parent = Array.from({ length: 2 * n - 1 }, (_, i) => i);
  const find = (v: number): number => {
    while (parent[v] !== v) v = parent[v] = parent[parent[v]];
    return v;
  };
  return order.map((m, row) => {
    const [a, b, dist, s] = merges[m];
    const ra = find(a), rb = find(b);
    parent[ra] = parent[rb] = n + row;
    return [Math.min(ra, rb), Math.max(ra, rb), dist, s];
  });
}

/**
 * Flat clusters from a linkage: the partition into `k` clusters left after the first n − k merges
 * (SciPy's `fcluster(Z, k, "maxclust")` for Ward, whose merge heights increase). Cluster ids are
 * numbered 0… in order of each cluster's first point.
 */
export function cutLinkage(linkage: readonly LinkageRow[], k: number): Int32Array {
  const n = linkage.length + 1;
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`cutLinkage: k must be an integer in [1, ${n}], got ${k}`);
  }
  const parent = Array.from({ length: 2 * n - 1 }, (_, i) => i);
  const find = (v: number): number => {
    while (parent[v] !== v) v = parent[v] = parent[parent[v]];
    return v;
  };
  for (let row = 0; row < n - k; row++) {
    const [a, b] = linkage[row];
    parent[find(a)] = parent[find(b)] = n + row;
  }
  const ids = new Map<number, number>();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const root = find(i);
    if (!ids.has(root)) ids.set(root, ids.size);
    labels[i] = ids.get(root)!;
  }
  return labels;
}
