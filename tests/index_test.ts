import { assertEquals } from "./assert.ts";
import { assertClose, checkOp, cpuMatmul, gpuTest, type HostTensor } from "./helpers.ts";
import { ops, poolStats, Rng, type Tensor, tensor, tidy } from "../mod.ts";
import { setFastPaths } from "../kernels/fast_paths.ts";

// Gathers copy f32 values, so the forward is exact (atol 0). A weight row's gradient is a sum of
// at most a few f32 terms, ~1e-7 relative, far inside the default gradient tolerance; the
// direct scatter-add check uses 1e-6 because f32 sums of ≤ 20 terms of size ≤ 1 err by < 1e-6.

/** CPU reference of the row gather; out-of-range ids give zero rows. */
function cpuGather(table: HostTensor, ids: number[], idsShape: number[]): HostTensor {
  const [rows, d] = table.shape;
  const values = new Float64Array(ids.length * d);
  ids.forEach((id, m) => {
    if (id < 0 || id >= rows) return;
    for (let j = 0; j < d; j++) values[m * d + j] = table.values[id * d + j];
  });
  return { shape: [...idsShape, d], values };
}

/** CPU reference of the backward: grad[id, :] += g[m, :]. */
function cpuScatterAdd(g: Float32Array, ids: number[], rows: number, d: number): Float64Array {
  const out = new Float64Array(rows * d);
  ids.forEach((id, m) => {
    if (id < 0 || id >= rows) return;
    for (let j = 0; j < d; j++) out[id * d + j] += g[m * d + j];
  });
  return out;
}

gpuTest("embedding forward and gradient with repeated ids, ids of rank 1–3", async () => {
  const cases: [number[], number[], number[]][] = [
    // weight shape, ids, ids shape
    [[7, 5], [3, 3, 0, 6, 3], [5]],
    [[4, 3], [1, 1, 1, 2, 0, 1], [2, 3]],
    [[9, 1], [8, 0, 8, 8, 2, 5, 5, 0], [2, 2, 2]],
  ];
  for (const [shape, ids, idsShape] of cases) {
    await checkOp({
      inputs: [{ shape }],
      gpu: ([w]) => ops.embedding(w, tensor(ids, idsShape, "i32")),
      cpu: ([w]) => cpuGather(w, ids, idsShape),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("embedding backward equals a CPU scatter-add over many repeated ids", async () => {
  const rows = 37, d = 19, m = 300;
  const rng = new Rng(7);
  // Skewed ids: half the positions hit row 0 (like padding), the rest spread over all rows.
  const ids = Array.from({ length: m }, () => (rng.next() < 0.5 ? 0 : rng.int(rows)));
  const g = Float32Array.from({ length: m * d }, () => rng.next() * 2 - 1);
  const w = tensor(new Float32Array(rows * d), [rows, d]).requireGrad();
  tidy(() => {
    const out = ops.embedding(w, tensor(ids, [3, 100], "i32"));
    out.backward(tensor(g, out.shape));
  });
  const grad = await w.grad!.data();
  // Row 0 sums ~150 terms of size ≤ 1: f32 rounding stays below 150 · 2⁻²⁴ · 150 ≈ 1.4e-3 worst case.
  assertClose(grad, cpuScatterAdd(g, ids, rows, d), 2e-3, 1e-5, "embedding grad");
  // The order of the sum is fixed, so a second backward gives the same bits.
  const first = Array.from(grad);
  w.grad!.dispose();
  w.grad = null;
  tidy(() => {
    const out = ops.embedding(w, tensor(ids, [3, 100], "i32"));
    out.backward(tensor(g, out.shape));
  });
  assertEquals(Array.from(await w.grad!.data()), first, "backward must be deterministic");
  w.dispose();
});

gpuTest("out-of-range ids read zero rows and get no gradient", async () => {
  const rows = 4, d = 3;
  const ids = [-1, 2, 4, 1000, 2];
  const values = Float32Array.from({ length: rows * d }, (_, i) => i + 1);
  const w = tensor(values, [rows, d]).requireGrad();
  const g = Float32Array.from({ length: ids.length * d }, (_, i) => 0.5 + i);
  const out = tidy(() => {
    const y = ops.embedding(w, tensor(ids, [5], "i32"));
    y.backward(tensor(g, y.shape));
    return y;
  });
  const table: HostTensor = { shape: [rows, d], values: Float64Array.from(values) };
  assertClose(await out.data(), cpuGather(table, ids, [5]).values, 0, 0, "forward");
  assertClose(await w.grad!.data(), cpuScatterAdd(g, ids, rows, d), 0, 0, "grad");
  out.dispose();
  w.dispose();
});

gpuTest("gatherRows picks rows of a 2-D tensor, gradient accumulates", async () => {
  const index = [2, 0, 2, 1, 2];
  await checkOp({
    inputs: [{ shape: [3, 6] }],
    gpu: ([x]) => ops.gatherRows(x, tensor(index, [5], "i32")),
    cpu: ([x]) => cpuGather(x, index, [5]),
    atol: 0,
    rtol: 0,
  });
});

gpuTest("embedding of a large vocabulary with one id repeated everywhere", async () => {
  // Exercises the multi-chunk scan (rows > 256 · chunk) and a long sorted segment.
  const rows = 5000, d = 4, m = 4096;
  const w = tensor(new Float32Array(rows * d), [rows, d]).requireGrad();
  const ids = Array.from({ length: m }, (_, i) => (i % 3 === 0 ? 4321 : i));
  const g = Float32Array.from({ length: m * d }, (_, i) => (i % 7) - 3);
  tidy(() => {
    const out = ops.embedding(w, tensor(ids, [m], "i32"));
    out.backward(tensor(g, out.shape));
  });
  // Integer-valued gradients: every partial sum is exact in f32.
  assertClose(await w.grad!.data(), cpuScatterAdd(g, ids, rows, d), 0, 0, "grad");
  w.dispose();
});

gpuTest("embedding backward returns all its scratch buffers to the pool", async () => {
  const w = tensor(new Float32Array(40 * 8), [40, 8]).requireGrad();
  const step = () =>
    tidy(() => {
      const out = ops.embedding(w, tensor([1, 5, 5, 39], [2, 2], "i32"));
      ops.sum(out).backward();
      w.grad!.dispose();
      w.grad = null;
    });
  step();
  const before = poolStats().liveBuffers;
  for (let i = 0; i < 3; i++) step();
  await w.data();
  assertEquals(poolStats().liveBuffers, before, "live buffers must stay flat across steps");
  w.dispose();
});

/**
 * A table read by two lookups and a tied output product, as train:absa's token table is: with
 * the fast paths on, the second lookup's scatter adds into the gradient summed so far.
 */
function tiedTable(w: Tensor, x: Tensor, ids1: number[], ids2: number[]): Tensor {
  const a = ops.embedding(w, tensor(ids1, [ids1.length], "i32"));
  const b = ops.embedding(w, tensor(ids2, [ids2.length], "i32"));
  const logits = ops.matmul(x, w, { transB: true });
  return ops.concat([a.reshape([-1]), b.reshape([-1]), logits.reshape([-1])], 0);
}

gpuTest(
  "a table with two lookups and a tied product: the fused accumulation's gradient matches the CPU and the unfused bits",
  async () => {
    const rows = 9, d = 8, n = 3;
    const ids1 = [4, 0, 4, 8, 2], ids2 = [4, 1, 1, 7];
    // The forward copies rows and sums d = 8 products in f32 (atol 1e-5 covers their rounding); the
    // gradient of each table entry sums ≤ 6 terms, inside checkOp's default gradient tolerance.
    await checkOp({
      inputs: [{ shape: [rows, d] }, { shape: [n, d] }],
      gpu: ([w, x]) => tiedTable(w, x, ids1, ids2),
      cpu: ([w, x]) => {
        const a = cpuGather(w, ids1, [ids1.length]).values;
        const b = cpuGather(w, ids2, [ids2.length]).values;
        const logits = cpuMatmul(x, w, false, true).values;
        return {
          shape: [a.length + b.length + logits.length],
          values: Float64Array.of(...a, ...b, ...logits),
        };
      },
    });
    const rng = new Rng(3);
    const random = (k: number) => Float32Array.from({ length: k }, () => rng.next() * 2 - 1);
    const w = tensor(random(rows * d), [rows, d]).requireGrad();
    const x = tensor(random(n * d), [n, d]).requireGrad();
    const grads = async (fast: boolean) => {
      setFastPaths(fast);
      try {
        tidy(() => ops.sum(ops.mul(tiedTable(w, x, ids1, ids2), 1.5)).backward());
      } finally {
        setFastPaths(true);
      }
      const g = Array.from(await w.grad!.data());
      w.grad!.dispose();
      w.grad = null;
      x.grad?.dispose();
      x.grad = null;
      return g;
    };
    assertEquals(await grads(true), await grads(false), "fused and unfused table gradients");
    w.dispose();
    x.dispose();
  },
);
