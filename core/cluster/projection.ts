/**
 * 2-D projections for the cluster map: PCA (the two leading eigenvectors of the covariance,
 * exact and deterministic) and UMAP through the npm package `umap-js` (seeded), behind this one
 * module.
 *
 * @module
 */
import { UMAP } from "umap-js";
import { Rng } from "../random.ts";
import type { Points } from "./points.ts";
import { symmetricEigen } from "./eigen.ts";

/** `[n, 2]` coordinates, row-major. */
export type Coordinates = Float64Array;

/** The first `components` principal-component scores of `x` (`[n, components]`, row-major). */
export function pca(x: Points, components = 2): Coordinates {
  const { n, dim, data } = x;
  if (components > dim) throw new Error(`PCA: ${components} components of ${dim}-d points`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += data[i * dim + d] / n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = data[i * dim + d] - mean[d];
    for (let p = 0; p < dim; p++) {
      const rp = row[p];
      if (rp === 0) continue;
      for (let q = p; q < dim; q++) cov[p * dim + q] += rp * row[q];
    }
  }
  for (let p = 0; p < dim; p++) for (let q = 0; q < p; q++) cov[p * dim + q] = cov[q * dim + p];
  const { vectors } = symmetricEigen(cov, dim);
  const out = new Float64Array(n * components);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < components; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += (data[i * dim + d] - mean[d]) * vectors[c][d];
      out[i * components + c] = s;
    }
  }
  return out;
}

/** Options of {@linkcode umap2d}. */
export interface UmapOptions {
  /** Seed of the random initialisation and sampling (default 0). */
  seed?: number;
  /** Neighbours of the fuzzy graph (default 15, as umap-learn). */
  neighbours?: number;
  /** Called with (epoch, total epochs) while it optimises. */
  onEpoch?: (epoch: number, total: number) => void;
}

/** UMAP to 2-D (cosine-free: Euclidean on the given points), deterministic per seed. */
export function umap2d(x: Points, options: UmapOptions = {}): Coordinates {
  const rng = new Rng(options.seed ?? 0);
  const rows = Array.from(
    { length: x.n },
    (_, i) => Array.from(x.data.subarray(i * x.dim, (i + 1) * x.dim)),
  );
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(options.neighbours ?? 15, x.n - 1),
    random: () => rng.next(),
  });
  const total = umap.initializeFit(rows);
  for (let e = 0; e < total; e++) {
    umap.step();
    options.onEpoch?.(e + 1, total);
  }
  return Float64Array.from(umap.getEmbedding().flat());
}
