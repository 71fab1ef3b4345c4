/**
 * Dense retrieval by cosine similarity over a fixed set of vectors (a corpus's memories): the
 * rows are normalised once on the host and uploaded once; a search normalises a batch of queries,
 * computes all their scores with one matmul [b, D] × [N, D]ᵀ and keeps the k best per query with
 * `ops.topkIndices` on the GPU, so only b × k indices and scores come back. A brute-force CPU loop
 * over the same normalised rows is the reference (and the bench's baseline).
 *
 * @module
 */
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { matmul } from "../ops/matmul.ts";
import { topkIndices } from "../ops/topk.ts";
import { normalizeRows as normalizePoints } from "../cluster/points.ts";

/** The k best rows of each query, best first: `indices` [b, k] and cosines `scores` [b, k]. */
export interface SearchResult {
  /** Row indices, row-major [b, k], best first per query. */
  indices: Int32Array;
  /** Cosine similarity of each returned row, in [-1, 1]: [b, k]. */
  scores: Float32Array;
  /** Results per query (the row width of `indices` and `scores`). */
  k: number;
}

/** Rows of `v` [n, dim] scaled to unit length (a zero row stays zero: cosine 0 to everything). */
export function normalizeRows(v: Float32Array, n: number, dim: number): Float32Array {
  if (v.length !== n * dim) {
    throw new Error(`normalizeRows: ${v.length} values are not [${n}, ${dim}]`);
  }
  return normalizePoints({ n, dim, data: v }).data;
}

/** Options of {@linkcode CosineIndex}. */
export interface CosineIndexOptions {
  /** Most scores one matmul may produce (queries per chunk × N); default 2²³ (32 MB). */
  maxScores?: number;
}

/** Cosine top-k search over `n` vectors of `dim` (see the module documentation). */
export class CosineIndex {
  readonly #rows: Tensor;
  readonly #chunk: number;

  /** Normalises and uploads `vectors` [n, dim]; call `dispose` to free them. */
  constructor(
    vectors: Float32Array,
    readonly n: number,
    readonly dim: number,
    o: CosineIndexOptions = {},
  ) {
    if (!Number.isInteger(n) || n < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new Error(`CosineIndex: need n ≥ 1 and dim ≥ 1 vectors, got [${n}, ${dim}]`);
    }
    this.#rows = tensor(normalizeRows(vectors, n, dim), [n, dim]);
    this.#chunk = Math.max(1, Math.floor((o.maxScores ?? 2 ** 23) / n));
  }

  /** The k (≤ 16, ≤ n) best rows for each of the b queries [b, dim]. */
  async search(queries: Float32Array, k: number): Promise<SearchResult> {
    const b = queries.length / this.dim;
    if (!Number.isInteger(b)) {
      throw new Error(`CosineIndex.search: ${queries.length} values are not rows of ${this.dim}`);
    }
    const q = normalizeRows(queries, b, this.dim);
    const indices = new Int32Array(b * k);
    const scores = new Float32Array(b * k);
    for (let s = 0; s < b; s += this.#chunk) {
      const rows = Math.min(this.#chunk, b - s);
      const top = noGrad(() =>
        tidy(() => {
          const batch = tensor(q.subarray(s * this.dim, (s + rows) * this.dim), [rows, this.dim]);
          return topkIndices(matmul(batch, this.#rows, { transB: true }), k);
        })
      );
      try {
        const [i, v] = await Promise.all([top.indices.data(), top.values.data()]);
        indices.set(i as Int32Array, s * k);
        scores.set(v as Float32Array, s * k);
      } finally {
        top.indices.dispose();
        top.values.dispose();
      }
    }
    return { indices, scores, k };
  }

  /** Frees the uploaded rows. */
  dispose(): void {
    this.#rows.dispose();
  }
}

/**
 * The same search as {@linkcode CosineIndex.search} as a brute-force CPU loop over rows already
 * normalised by {@linkcode normalizeRows} (f32 products summed in f64; ties to the lower index).
 */
export function cosineTopKCpu(
  rows: Float32Array,
  n: number,
  dim: number,
  queries: Float32Array,
  k: number,
): SearchResult {
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`cosineTopKCpu: k = ${k} must be in 1…${n}`);
  }
  const b = queries.length / dim;
  const q = normalizeRows(queries, b, dim);
  const indices = new Int32Array(b * k);
  const scores = new Float32Array(b * k);
  const bestV = new Float64Array(k), bestI = new Int32Array(k);
  for (let r = 0; r < b; r++) {
    let have = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += q[r * dim + c] * rows[i * dim + c];
      if (have === k && !(s > bestV[k - 1])) continue;
      let j = have === k ? k - 1 : have++;
      while (j > 0 && s > bestV[j - 1]) {
        bestV[j] = bestV[j - 1];
        bestI[j] = bestI[j - 1];
        j--;
      }
      bestV[j] = s;
      bestI[j] = i;
    }
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = bestI[j];
      scores[r * k + j] = bestV[j];
    }
  }
  return { indices, scores, k };
}
