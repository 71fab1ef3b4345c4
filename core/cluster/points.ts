/**
 * Dense point sets for the clustering algorithms: `n` rows of `dim` float32 values, row-major.
 * Accumulation is done in f64 (plain JS numbers) so results do not depend on summation order in
 * float32.
 *
 * @module
 */

/** `n` points of `dim` coordinates, row-major. */
export interface Points {
  /** Number of points (rows). */
  n: number;
  /** Coordinates per point (columns). */
  dim: number;
  /** The coordinates, row-major [n, dim]. */
  data: Float32Array;
}

/** Points from an array of equal-length rows; the error names the first row of another length. */
export function pointsFromRows(rows: readonly (readonly number[])[]): Points {
  const dim = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => {
    if (row.length !== dim) throw new Error(`row ${i} has ${row.length} values, expected ${dim}`);
    data.set(row, i * dim);
  });
  return { n: rows.length, dim, data };
}

/** Squared Euclidean distance between row `i` of `a` and row `j` of `b`. */
export function squaredDistance(a: Points, i: number, b: Points, j: number): number {
  let s = 0;
  const ao = i * a.dim, bo = j * b.dim;
  for (let c = 0; c < a.dim; c++) {
    const d = a.data[ao + c] - b.data[bo + c];
    s += d * d;
  }
  return s;
}

/** Dot product of row `i` of `a` and row `j` of `b`. */
export function dot(a: Points, i: number, b: Points, j: number): number {
  let s = 0;
  const ao = i * a.dim, bo = j * b.dim;
  for (let c = 0; c < a.dim; c++) s += a.data[ao + c] * b.data[bo + c];
  return s;
}

/** A copy of `p` with every row scaled to unit L2 norm (zero rows stay zero). */
export function normalizeRows(p: Points): Points {
  const data = new Float32Array(p.data);
  for (let i = 0; i < p.n; i++) {
    const row = data.subarray(i * p.dim, (i + 1) * p.dim);
    let s = 0;
    for (const v of row) s += v * v;
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let c = 0; c < p.dim; c++) row[c] *= inv;
    }
  }
  return { n: p.n, dim: p.dim, data };
}

/** The rows of `p` listed in `indices`, in that order. */
export function selectRows(p: Points, indices: readonly number[]): Points {
  const data = new Float32Array(indices.length * p.dim);
  indices.forEach((r, i) => data.set(p.data.subarray(r * p.dim, (r + 1) * p.dim), i * p.dim));
  return { n: indices.length, dim: p.dim, data };
}

/**
 * Mean of the rows of each cluster: `labels[i]` in [0, k) picks row i's cluster, −1 (noise) is
 * left out. Returns `[k, dim]` means (zero for an empty cluster) and the sizes.
 */
export function clusterMeans(
  p: Points,
  labels: ArrayLike<number>,
  k: number,
): { means: Points; sizes: number[] } {
  const sums = new Float64Array(k * p.dim);
  const sizes = new Array(k).fill(0);
  for (let i = 0; i < p.n; i++) {
    const c = labels[i];
    if (c < 0) continue;
    sizes[c]++;
    for (let d = 0; d < p.dim; d++) sums[c * p.dim + d] += p.data[i * p.dim + d];
  }
  const data = new Float32Array(k * p.dim);
  for (let c = 0; c < k; c++) {
    if (sizes[c] === 0) continue;
    for (let d = 0; d < p.dim; d++) data[c * p.dim + d] = sums[c * p.dim + d] / sizes[c];
  }
  return { means: { n: k, dim: p.dim, data }, sizes };
}

/** Number of clusters in `labels` (max label + 1; noise −1 ignored). */
export function clusterCount(labels: ArrayLike<number>): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) max = Math.max(max, labels[i]);
  return max + 1;
}
