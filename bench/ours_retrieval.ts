/**
 * The retrieval group: cosine top-5 of a batch of queries over an index of synthetic memory
 * vectors (uniform-sum noise, D = 128; the timing depends on the sizes only, not the values), by
 * {@linkcode CosineIndex} on the GPU (one matmul + top-k kernel per batch, only the k results
 * read back) and, as the reference, by the brute-force CPU loop over the same normalised rows.
 * The rate is queries per second (`tokens_per_s`).
 *
 * @module
 */
import { Rng } from "../core/random.ts";
import { CosineIndex, cosineTopKCpu, normalizeRows } from "../core/retrieval/cosine_index.ts";
import type { BenchCase, CaseInfo } from "./harness.ts";
import { countingRunner } from "./ours_runner.ts";

/** The implementation name of the CPU reference loop's records. */
export const CPU_LOOP = "cpu-loop";

interface RetrievalShape {
  n: number;
  dim: number;
  queries: number;
  k: number;
}

function shapes(tiny: boolean): RetrievalShape[] {
  return tiny
    ? [{ n: 1000, dim: 32, queries: 4, k: 5 }]
    : [10_000, 100_000].map((n) => ({ n, dim: 128, queries: 64, k: 5 }));
}

function info(s: RetrievalShape): CaseInfo {
  const size = s.n >= 1000 ? `${s.n / 1000}k` : `${s.n}`;
  return {
    group: "retrieval",
    name: `cosine top-${s.k}`,
    shape: `${size}×${s.dim} synthetic, ${s.queries} queries`,
    tokens: s.queries,
  };
}

function synthetic(count: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count }, () => rng.next() + rng.next() - 1);
}

/** GPU cases (ours): the index is uploaded in `prepare`, a run is one search of all queries. */
export function retrievalCases(tiny: boolean): BenchCase[] {
  return shapes(tiny).map((s) => ({
    info: info(s),
    prepare() {
      const index = new CosineIndex(synthetic(s.n * s.dim, 5), s.n, s.dim);
      const queries = synthetic(s.queries * s.dim, 6);
      return countingRunner({
        async run() {
          await index.search(queries, s.k);
        },
        dispose: () => index.dispose(),
      });
    },
  }));
}

/** The same cases as the brute-force CPU loop (rows normalised in `prepare`, as the GPU's are). */
export function cpuRetrievalCases(tiny: boolean): BenchCase[] {
  return shapes(tiny).map((s) => ({
    info: info(s),
    prepare() {
      const rows = normalizeRows(synthetic(s.n * s.dim, 5), s.n, s.dim);
      const queries = synthetic(s.queries * s.dim, 6);
      return {
        run: () => void cosineTopKCpu(rows, s.n, s.dim, queries, s.k),
        dispose() {},
      };
    },
  }));
}
