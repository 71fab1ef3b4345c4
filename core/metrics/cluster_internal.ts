/**
 * Quality of a clustering from the points alone: silhouette (Rousseeuw 1987), Davies–Bouldin,
 * Calinski–Harabasz (as scikit-learn defines them, Euclidean), and a local-coherence score: the
 * mean cosine of each point to its k most similar points of its own cluster against its k most
 * similar points outside it. Noise points (label −1) are left out of every score. Silhouette and
 * local coherence are O(n²); above `sample` points they are averaged over a seeded sample of
 * points (each still compared with all points).
 *
 * @module
 */
import {
  clusterCount,
  clusterMeans,
  dot,
  type Points,
  squaredDistance,
} from "../cluster/points.ts";
import { Rng } from "../random.ts";

function clustered(labels: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) out.push(i);
  return out;
}

function sampleOf(indices: number[], sample: number, seed: number): number[] {
  if (indices.length <= sample) return indices;
  const rng = new Rng(seed), a = [...indices];
  for (let i = 0; i < sample; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, sample).sort((p, q) => p - q);
}

/**
 * Mean silhouette s = (b − a) / max(a, b) over clustered points (a: mean distance to the own
 * cluster, b: smallest mean distance to another cluster; s = 0 for a point alone in its cluster).
 * NaN when fewer than 2 clusters.
 */
export function silhouette(x: Points, labels: ArrayLike<number>, sample = 4000, seed = 0): number {
  const k = clusterCount(labels);
  const members = clustered(labels);
  if (k < 2 || members.length < 2) return NaN;
  const sizes = new Array(k).fill(0);
  for (const i of members) sizes[labels[i]]++;
  const sums = new Float64Array(k);
  let total = 0;
  const chosen = sampleOf(members, sample, seed);
  for (const i of chosen) {
    sums.fill(0);
    for (const j of members) if (j !== i) sums[labels[j]] += Math.sqrt(squaredDistance(x, i, x, j));
    const own = labels[i];
    if (sizes[own] === 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && sizes[c] > 0) b = Math.min(b, sums[c] / sizes[c]);
    total += (b - a) / Math.max(a, b);
  }
  return total / chosen.length;
}

/** Davies–Bouldin: mean over clusters of max_j (sᵢ + sⱼ) / d(cᵢ, cⱼ); lower is better. */
export function daviesBouldin(x: Points, labels: ArrayLike<number>): number {
  const k = clusterCount(labels);
  if (k < 2) return NaN;
  const { means, sizes } = clusterMeans(x, labels, k);
  const spread = new Float64Array(k);
  for (let i = 0; i < x.n; i++) {
    if (labels[i] >= 0) spread[labels[i]] += Math.sqrt(squaredDistance(x, i, means, labels[i]));
  }
  const live = sizes.map((s, c) => (s > 0 ? c : -1)).filter((c) => c >= 0);
  for (const c of live) spread[c] /= sizes[c];
  let sum = 0;
  for (const i of live) {
    let worst = 0;
    for (const j of live) {
      if (i === j) continue;
      const d = Math.sqrt(squaredDistance(means, i, means, j));
      worst = Math.max(worst, d === 0 ? Infinity : (spread[i] + spread[j]) / d);
    }
    sum += worst;
  }
  return sum / live.length;
}

/** Calinski–Harabasz: (between-cluster / (k − 1)) / (within-cluster / (n − k)); higher is better. */
export function calinskiHarabasz(x: Points, labels: ArrayLike<number>): number {
  const k = clusterCount(labels);
  const members = clustered(labels);
  if (k < 2 || members.length <= k) return NaN;
  const { means, sizes } = clusterMeans(x, labels, k);
  const centre = new Float64Array(x.dim);
  for (const i of members) for (let d = 0; d < x.dim; d++) centre[d] += x.data[i * x.dim + d];
  for (let d = 0; d < x.dim; d++) centre[d] /= members.length;
  const all = { n: 1, dim: x.dim, data: Float32Array.from(centre) };
  let between = 0, within = 0;
  for (let c = 0; c < k; c++) {
    if (sizes[c] > 0) between += sizes[c] * squaredDistance(means, c, all, 0);
  }
  for (const i of members) within += squaredDistance(x, i, means, labels[i]);
  if (within === 0) return Infinity;
  return (between / (k - 1)) / (within / (members.length - k));
}

/** Local coherence: mean cosine to the k nearest members inside and outside one's cluster. */
export interface LocalCoherence {
  /** Mean of the k highest cosines to members of one's own cluster (NaN: no point counted). */
  inside: number;
  /** Mean of the k highest cosines to points of other clusters (NaN: no point counted). */
  outside: number;
  /** inside − outside. */
  margin: number;
}

/**
 * For each sampled clustered point: the mean of its `k` highest cosines to other members of its
 * cluster (fewer when the cluster is smaller) and the same over points of other clusters; both
 * averaged. Points alone in their cluster are left out.
 */
export function localCoherence(
  x: Points,
  labels: ArrayLike<number>,
  k = 10,
  sample = 2000,
  seed = 0,
): LocalCoherence {
  const members = clustered(labels);
  const norms = new Float64Array(x.n);
  for (const i of members) norms[i] = Math.sqrt(dot(x, i, x, i)) || 1;
  let inside = 0, outside = 0, counted = 0;
  for (const i of sampleOf(members, sample, seed)) {
    const same: number[] = [], other: number[] = [];
    for (const j of members) {
      if (j === i) continue;
      const cos = dot(x, i, x, j) / (norms[i] * norms[j]);
      (labels[j] === labels[i] ? same : other).push(cos);
    }
    if (same.length === 0 || other.length === 0) continue;
    inside += topMean(same, k);
    outside += topMean(other, k);
    counted++;
  }
  if (counted === 0) return { inside: NaN, outside: NaN, margin: NaN };
  return {
    inside: inside / counted,
    outside: outside / counted,
    margin: (inside - outside) / counted,
  };
}

function topMean(values: number[], k: number): number {
  values.sort((a, b) => b - a);
  const m = Math.min(k, values.length);
  let s = 0;
  for (let i = 0; i < m; i++) s += values[i];
  return s / m;
}
