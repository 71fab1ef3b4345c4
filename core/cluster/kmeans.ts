/**
 * k-means: k-means++ seeding (Arthur & Vassilvitskii 2007: each next centre drawn with probability
 * proportional to the squared distance to the nearest centre chosen so far) followed by Lloyd
 * iterations, best of `restarts` runs by inertia. Deterministic per seed.
 *
 * The assignment step is `n·k·dim` multiply-adds written as ‖x‖² − 2·x·c + ‖c‖², so its cost is
 * one matrix product. By default it runs on the CPU; `assign` swaps in another implementation,
 * e.g. {@linkcode gpuAssigner} (the product on the GPU, one readback per iteration), which on
 * this project's lavapipe adapter takes 130–150 ms against the CPU's 550 ms for 10 000 × 100 × 50.
 *
 * @module
 */
import { Rng } from "../random.ts";
import { clusterMeans, type Points, squaredDistance } from "./points.ts";

/** Options of {@linkcode kMeans}. */
export interface KMeansOptions {
  /** Number of clusters, an integer in [1, n]. */
  k: number;
  /** Seed of the k-means++ draws (default 0). */
  seed?: number;
  /** Lloyd iterations at most (default 100). */
  maxIterations?: number;
  /** Independent seedings; the run with the lowest inertia wins (default 3). */
  restarts?: number;
  /** The assignment step (default: {@linkcode assignNearest} on the CPU). */
  assign?: Assigner;
}

/** Nearest centroid of each point and its squared distance. */
export interface Assignment {
  /** Index of the nearest centroid of each point: [n]. */
  labels: Int32Array;
  /** Squared Euclidean distance of each point to that centroid: [n]. */
  distances: Float64Array;
}

/** An assignment step for one point set: the nearest of `centroids` for each point. */
export type Assigner = (centroids: Points) => Assignment | Promise<Assignment>;

/** A k-means partition. */
export interface KMeansResult {
  /** Cluster of each point, in [0, k). */
  labels: Int32Array;
  /** `[k, dim]` centroids. */
  centroids: Points;
  /** Sum of squared distances of the points to their centroids. */
  inertia: number;
  /** Lloyd iterations of the winning run. */
  iterations: number;
}

/** Clusters `x` into `k` groups; throws when k is not in [1, n]. */
export async function kMeans(x: Points, options: KMeansOptions): Promise<KMeansResult> {
  const { k } = options;
  if (!Number.isInteger(k) || k < 1 || k > x.n) {
    throw new Error(
      `k-means: k must be an integer in [1, ${x.n}] (the number of points), got ${k}`,
    );
  }
  const rng = new Rng(options.seed ?? 0);
  const assign = options.assign ?? ((c: Points) => assignNearest(x, c));
  let best: KMeansResult | null = null;
  for (let r = 0; r < (options.restarts ?? 3); r++) {
    const run = await lloyd(x, seedPlusPlus(x, k, rng), options.maxIterations ?? 100, assign);
    if (!best || run.inertia < best.inertia) best = run;
  }
  return best!;
}

/** k-means++ centres (rows of `x`). */
export function seedPlusPlus(x: Points, k: number, rng: Rng): Points {
  const centres = new Float32Array(k * x.dim);
  const nearest = new Float64Array(x.n).fill(Infinity);
  let pick = rng.int(x.n);
  for (let c = 0; c < k; c++) {
    centres.set(x.data.subarray(pick * x.dim, (pick + 1) * x.dim), c * x.dim);
    if (c === k - 1) break;
    let total = 0;
    const centre = { n: 1, dim: x.dim, data: centres.subarray(c * x.dim, (c + 1) * x.dim) };
    for (let i = 0; i < x.n; i++) {
      nearest[i] = Math.min(nearest[i], squaredDistance(x, i, centre, 0));
      total += nearest[i];
    }
    if (total === 0) {
      pick = rng.int(x.n); // every point coincides with a centre: any row will do
      continue;
    }
    let target = rng.next() * total;
    pick = x.n - 1;
    for (let i = 0; i < x.n; i++) {
      target -= nearest[i];
      if (target < 0 && nearest[i] > 0) {
        pick = i;
        break;
      }
    }
  }
  return { n: k, dim: x.dim, data: centres };
}

/**
 * Nearest centroid of each point and its squared distance, through ‖x‖² − 2·x·c + ‖c‖² (the
 * cross term is one product of x [n, dim] with the transposed centroids).
 */
export function assignNearest(x: Points, centroids: Points): Assignment {
  const k = centroids.n, dim = x.dim;
  const cross = new Float64Array(x.n * k);
  for (let i = 0; i < x.n; i++) {
    const row = x.data.subarray(i * dim, (i + 1) * dim);
    for (let c = 0; c < k; c++) {
      const o = c * dim;
      let s = 0;
      for (let d = 0; d < dim; d++) s += row[d] * centroids.data[o + d];
      cross[i * k + c] = s;
    }
  }
  return assignFromProducts(rowNorms(x), rowNorms(centroids), cross);
}

/**
 * The assignment from the products `cross` = x·cᵀ ([n, k], row-major) and the squared row norms
 * of x and c: argmin over c of ‖x‖² − 2·x·c + ‖c‖² (first index on ties), distances clamped at 0.
 */
export function assignFromProducts(
  xNorm: Float64Array,
  cNorm: Float64Array,
  cross: ArrayLike<number>,
): Assignment {
  const n = xNorm.length, k = cNorm.length;
  const labels = new Int32Array(n);
  const distances = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let bestC = 0, bestD = Infinity;
    for (let c = 0; c < k; c++) {
      const dist = xNorm[i] - 2 * cross[i * k + c] + cNorm[c];
      if (dist < bestD) {
        bestD = dist;
        bestC = c;
      }
    }
    labels[i] = bestC;
    distances[i] = Math.max(0, bestD);
  }
  return { labels, distances };
}

/** Squared L2 norm of each row. */
export function rowNorms(p: Points): Float64Array {
  const out = new Float64Array(p.n);
  for (let i = 0; i < p.n; i++) {
    let s = 0;
    for (let d = 0; d < p.dim; d++) s += p.data[i * p.dim + d] ** 2;
    out[i] = s;
  }
  return out;
}

async function lloyd(
  x: Points,
  start: Points,
  maxIterations: number,
  assign: Assigner,
): Promise<KMeansResult> {
  let centroids = start;
  let { labels, distances } = await assign(centroids);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const { means, sizes } = clusterMeans(x, labels, centroids.n);
    // An empty cluster takes the point farthest from its centroid.
    for (let c = 0; c < sizes.length; c++) {
      if (sizes[c] > 0) continue;
      let far = 0;
      for (let i = 1; i < x.n; i++) if (distances[i] > distances[far]) far = i;
      means.data.set(x.data.subarray(far * x.dim, (far + 1) * x.dim), c * x.dim);
      distances[far] = 0;
    }
    centroids = means;
    const next = await assign(centroids);
    const changed = next.labels.some((l, i) => l !== labels[i]);
    labels = next.labels;
    distances = next.distances;
    if (!changed) {
      iterations++;
      break;
    }
  }
  const inertia = distances.reduce((a, b) => a + b, 0);
  return { labels, centroids, inertia, iterations };
}
