/**
 * The clustering methods of `deno task cluster` behind one call, their scores, and the
 * hyperparameter sweep (`--search`): k for k-means and Ward, eps × min-samples for DBSCAN (eps at
 * quantiles of the k-th-neighbour distances), min-cluster-size for HDBSCAN; the best row by the
 * chosen metric wins. The label-free metrics score clustered points only, so a density method
 * could win a sweep by calling most points noise; the selection value therefore weighs them by the
 * clustered share c of the points: silhouette · c, Calinski–Harabasz · c, −Davies–Bouldin / c
 * (NMI counts noise as one more cluster and needs no weighting).
 *
 * @module
 */
import type { Points } from "../../core/cluster/points.ts";
import { type Assigner, kMeans } from "../../core/cluster/kmeans.ts";
import { cutLinkage, type LinkageRow, wardLinkage } from "../../core/cluster/ward.ts";
import { dbscan, kthNeighbourDistances } from "../../core/cluster/dbscan.ts";
import { hdbscan } from "../../core/cluster/hdbscan.ts";
import {
  calinskiHarabasz,
  daviesBouldin,
  silhouette,
} from "../../core/metrics/cluster_internal.ts";
import {
  adjustedRandIndex,
  normalizedMutualInformation,
  purity,
} from "../../core/metrics/cluster_external.ts";

/** The method names. */
export const METHODS = ["kmeans", "ward", "dbscan", "hdbscan"] as const;
/** One method name. */
export type MethodName = typeof METHODS[number];

/** The selection metrics of `--select`. */
export const SELECT_METRICS = ["silhouette", "davies-bouldin", "calinski", "nmi"] as const;
/** One selection metric. */
export type SelectMetric = typeof SELECT_METRICS[number];

/** A method's hyperparameters (those it does not use are absent). */
export interface MethodParams {
  k?: number;
  eps?: number;
  minSamples?: number;
  minClusterSize?: number;
}

/** Scores of one labelling. */
export interface Scores {
  clusters: number;
  noise: number;
  silhouette: number;
  daviesBouldin: number;
  calinskiHarabasz: number;
  nmi?: number;
  ari?: number;
  purity?: number;
}

/** Runs methods on one point set, computing Ward's linkage once for all cuts. */
export class Clusterer {
  #linkage: LinkageRow[] | null = null;

  /** For `points`, with k-means seeded by `seed` and its assignment step `assign` (default CPU). */
  constructor(readonly points: Points, readonly seed = 0, readonly assign?: Assigner) {}

  /** Ward's full linkage (SciPy format), computed on first use. */
  get linkage(): LinkageRow[] {
    return this.#linkage ??= wardLinkage(this.points);
  }

  /** Cluster of each point (−1: noise). */
  async run(method: MethodName, p: MethodParams): Promise<Int32Array> {
    if (method === "kmeans") {
      const k = need(p.k, "k");
      return (await kMeans(this.points, { k, seed: this.seed, assign: this.assign })).labels;
    }
    if (method === "ward") return cutLinkage(this.linkage, need(p.k, "k"));
    if (method === "dbscan") {
      return dbscan(this.points, {
        eps: need(p.eps, "eps"),
        minSamples: need(p.minSamples, "min-samples"),
      });
    }
    return hdbscan(this.points, {
      minClusterSize: need(p.minClusterSize, "min-cluster-size"),
      minSamples: p.minSamples,
    });
  }

  /** The sweep's parameter rows for `method` (`maxK` bounds k). */
  candidates(method: MethodName, maxK: number): MethodParams[] {
    const n = this.points.n;
    if (method === "kmeans" || method === "ward") {
      return [2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100]
        .filter((k) => k <= Math.min(maxK, n - 1)).map((k) => ({ k }));
    }
    if (method === "dbscan") {
      return [5, 10].filter((m) => m < n).flatMap((minSamples) => {
        const d = kthNeighbourDistances(this.points, minSamples - 1);
        return [0.1, 0.25, 0.5, 0.75, 0.9].map((q) => ({
          eps: Math.max(1e-6, d[Math.floor(q * (d.length - 1))]),
          minSamples,
        }));
      });
    }
    return [5, 10, 20, 40, 80].filter((m) => m <= n / 2).map((minClusterSize) => ({
      minClusterSize,
    }));
  }

  /** Default parameters when there is no sweep. */
  defaults(method: MethodName, k: number): MethodParams {
    if (method === "kmeans" || method === "ward") return { k: Math.min(k, this.points.n) };
    if (method === "dbscan") {
      const d = kthNeighbourDistances(this.points, Math.min(4, this.points.n - 1));
      return { eps: Math.max(1e-6, d[Math.floor(d.length / 2)]), minSamples: 5 };
    }
    return { minClusterSize: Math.max(2, Math.min(10, Math.floor(this.points.n / 4))) };
  }
}

function need(value: number | undefined, name: string): number {
  if (value === undefined) throw new Error(`this method needs --${name}`);
  return value;
}

/**
 * Internal scores, and external ones when `truth` is given; the silhouette is averaged over a
 * seeded sample of `sample` points (each compared with all n), which keeps it O(sample · n).
 */
export function scoreLabels(
  points: Points,
  labels: Int32Array,
  truth: readonly string[] | undefined,
  sample = 1000,
): Scores {
  let clusters = 0, noise = 0;
  for (const l of labels) {
    if (l < 0) noise++;
    else clusters = Math.max(clusters, l + 1);
  }
  const s: Scores = {
    clusters,
    noise,
    silhouette: silhouette(points, labels, sample),
    daviesBouldin: daviesBouldin(points, labels),
    calinskiHarabasz: calinskiHarabasz(points, labels),
  };
  if (truth) {
    s.nmi = normalizedMutualInformation(truth, labels);
    s.ari = adjustedRandIndex(truth, labels);
    s.purity = purity(truth, labels);
  }
  return s;
}

/**
 * The value to maximise for `metric` among labellings of `n` points (NaN when it cannot be
 * scored), weighted by the clustered share of the points (see the module note).
 */
export function selectionValue(s: Scores, metric: SelectMetric, n: number): number {
  if (s.clusters < 2) return NaN;
  const covered = (n - s.noise) / n;
  if (metric === "silhouette") return s.silhouette * covered;
  if (metric === "davies-bouldin") return -s.daviesBouldin / covered;
  if (metric === "calinski") return s.calinskiHarabasz * covered;
  if (s.nmi === undefined) throw new Error("--select nmi needs reference labels (--label-field)");
  return s.nmi;
}
