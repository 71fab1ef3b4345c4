import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { Rng } from "../core/random.ts";
import { CosineIndex, cosineTopKCpu, normalizeRows } from "../core/retrieval/cosine_index.ts";
import { type BenchRecord, runCases, TINY_TIMING } from "../bench/harness.ts";
import { CPU_LOOP, cpuRetrievalCases, retrievalCases } from "../bench/ours_retrieval.ts";

/** Gaussian-ish values (sum of uniforms) so that near-ties at the k-th place are unlikely. */
function vectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => rng.next() + rng.next() + rng.next() - 1.5);
}

gpuTest("CosineIndex.search finds the CPU loop's top k, over several query chunks", async () => {
  const n = 3000, dim = 24, b = 7, k = 5;
  const rows = vectors(n, dim, 3);
  rows.fill(0, 10 * dim, 11 * dim); // a zero row: cosine 0, never NaN
  const queries = vectors(b, dim, 4);
  // maxScores of 2·n: chunks of 2 queries, so the 7 queries take 4 matmuls.
  const index = new CosineIndex(rows, n, dim, { maxScores: 2 * n });
  try {
    const got = await index.search(queries, k);
    const want = cosineTopKCpu(normalizeRows(rows, n, dim), n, dim, queries, k);
    assertEquals(Array.from(got.indices), Array.from(want.indices));
    // f32 dot products of 24 unit-vector terms on the GPU against f64 sums: 1e-6 absolute.
    for (let i = 0; i < b * k; i++) {
      assert(Math.abs(got.scores[i] - want.scores[i]) < 1e-6, `score ${i}`);
    }
    for (let r = 0; r < b; r++) {
      for (let j = 1; j < k; j++) assert(got.scores[r * k + j] <= got.scores[r * k + j - 1]);
    }
    // A query equal to a stored row (scaled) finds that row first with cosine 1.
    const again = await index.search(rows.slice(42 * dim, 43 * dim).map((x) => 3 * x), 1);
    assertEquals(again.indices[0], 42);
    assert(Math.abs(again.scores[0] - 1) < 1e-6, `self cosine ${again.scores[0]}`);
    const bad = await assertRejects(() => index.search(new Float32Array(dim + 1), 1), Error);
    assert(bad.message.includes("not rows of 24"), bad.message);
  } finally {
    index.dispose();
  }
  assertThrows(() => cosineTopKCpu(rows, n, dim, queries, n + 1), "k = 3001");
});

gpuTest(
  "the bench's retrieval cases run at tiny sizes, on the GPU and as the CPU loop",
  async () => {
    const records: BenchRecord[] = [];
    const failures: string[] = [];
    for (
      const [cases, impl] of [[retrievalCases(true), "ours"], [
        cpuRetrievalCases(true),
        CPU_LOOP,
      ]] as const
    ) {
      await runCases(
        cases,
        impl,
        "test",
        TINY_TIMING,
        (r) => records.push(r),
        (c, e) => failures.push(`${c.name}: ${(e as Error).message}`),
      );
    }
    assertEquals(failures, []);
    assertEquals(records.map((r) => [r.group, r.impl]), [["retrieval", "ours"], [
      "retrieval",
      CPU_LOOP,
    ]]);
    for (const r of records) {
      assert(r.tokens_per_s! > 0, `${r.impl}: queries/s ${r.tokens_per_s}`);
    }
  },
);
