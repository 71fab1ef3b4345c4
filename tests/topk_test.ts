import { checkOp, gpuTest, type HostTensor } from "./helpers.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { ops, type Tensor, tensor } from "../mod.ts";
import { noGrad } from "../core/autograd.ts";
import { tidy } from "../core/scope.ts";
import { Rng } from "../core/random.ts";

/** The k best candidates of each row, best first (ties to the lower index, as the kernel does). */
function order(x: HostTensor, row: number, n: number): number[] {
  return [...Array(n).keys()].sort((i, j) =>
    x.values[row * n + j] - x.values[row * n + i] || i - j
  );
}

/** f64 Z_hard [B, k, N]: slot j is one-hot on the j-th best candidate. */
function cpuHardTopK(x: HostTensor, k: number): HostTensor {
  const [b, n] = x.shape;
  const values = new Float64Array(b * k * n);
  for (let r = 0; r < b; r++) {
    order(x, r, n).slice(0, k).forEach((c, j) => (values[(r * k + j) * n + c] = 1));
  }
  return { shape: [b, k, n], values };
}

/** f64 Z_soft: slot j is softmax(x / tau) over the candidates that slots before j did not take. */
function cpuSoftTopK(x: HostTensor, k: number, tau: number): HostTensor {
  const [b, n] = x.shape;
  const values = new Float64Array(b * k * n);
  for (let r = 0; r < b; r++) {
    const taken = order(x, r, n);
    for (let j = 0; j < k; j++) {
      const open = [...Array(n).keys()].filter((c) => !taken.slice(0, j).includes(c));
      const top = Math.max(...open.map((c) => x.values[r * n + c] / tau));
      const total = open.reduce((s, c) => s + Math.exp(x.values[r * n + c] / tau - top), 0);
      for (const c of open) {
        values[(r * k + j) * n + c] = Math.exp(x.values[r * n + c] / tau - top) / total;
      }
    }
  }
  return { shape: [b, k, n], values };
}

gpuTest("steTopK: forward is the f64 hard top-k, gradient the f64 soft path's", async () => {
  // Forward exact (0/1). Gradient: the f64 central difference (eps 1e-6) of Σ w·Z_soft against
  // the GPU's f32 softmax backward (relative error ~1e-6): the default 1e-4 + 1e-3 relative. A
  // perturbation that reordered two scores would make the difference jump and fail the check.
  for (
    const [shape, k, tau] of [[[3, 6], 3, 0.5], [[2, 9], 1, 1], [[1, 5], 5, 2], [
      [4, 17],
      4,
      0.7,
    ]] as const
  ) {
    await checkOp({
      inputs: [{ shape: [...shape], range: [-3, 3] }],
      gpu: ([s]) => ops.steTopK(s, k, tau),
      cpu: ([s]) => cpuHardTopK(s, k),
      cpuGrad: ([s]) => cpuSoftTopK(s, k, tau),
      atol: 0,
      rtol: 0,
      seed: shape[1] + k,
    });
  }
});

gpuTest("softTopK: forward is the f64 soft slots, gradient their finite differences", async () => {
  // Forward: f32 exp/normalise against f64, relative error ~1e-6 per entry, so atol 1e-6 and
  // rtol 1e-5. Gradient: as for steTopK above (f64 central differences, default tolerances).
  for (const [shape, k, tau] of [[[3, 6], 3, 0.5], [[2, 9], 2, 0.1], [[1, 5], 5, 2]] as const) {
    await checkOp({
      inputs: [{ shape: [...shape], range: [-3, 3] }],
      gpu: ([s]) => ops.softTopK(s, k, tau),
      cpu: ([s]) => cpuSoftTopK(s, k, tau),
      atol: 1e-6,
      rtol: 1e-5,
      seed: 7 * shape[1] + k,
    });
  }
});

gpuTest("hardTopK is steTopK's forward exactly and carries no gradient", async () => {
  const values = [0.3, -1, 2, 0.3, 5, -2, 1, 1, 0, 4, 4, -3];
  const s = tensor(values, [2, 6]).requireGrad();
  const hard = ops.hardTopK(s, 3);
  const ste = ops.steTopK(s, 3, 0.5);
  assertEquals(Array.from(await hard.data()), Array.from(await ste.data()));
  const host = { shape: [2, 6], values: Float64Array.from(values) };
  assertEquals(Array.from(await hard.data()), Array.from(cpuHardTopK(host, 3).values));
  assert(!hard.requiresGrad, "hardTopK's output is on the tape");
  assert(ste.requiresGrad, "steTopK's output is not on the tape");
  noGrad(() => [s, hard, ste].forEach((t) => t.dispose()));
});

gpuTest("steTopK's gradient is exactly softTopK's for the same upstream gradient", async () => {
  const scores = [0.9, -0.4, 1.7, 0.2, -1.1, 0.6, 2.2, -0.8, 0.1, 1.3];
  const w = tensor(Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.sin(i + 1)), [2, 3, 5]);
  const gradOf = async (select: (s: Tensor) => Tensor): Promise<number[]> => {
    const s = tensor(scores, [2, 5]).requireGrad();
    tidy(() => ops.sum(ops.mul(select(s), w)).backward());
    const g = Array.from(await s.grad!.data());
    s.dispose();
    return g;
  };
  const ste = await gradOf((s) => ops.steTopK(s, 3, 0.3));
  assert(ste.some((v) => v !== 0), "steTopK's gradient is zero");
  assertEquals(ste, await gradOf((s) => ops.softTopK(s, 3, 0.3)));
  w.dispose();
});

/** The first k of `order` per row with the scores, as the kernel should write them. */
function cpuTopkIndices(x: HostTensor, k: number): { indices: number[]; values: number[] } {
  const [b, n] = x.shape;
  const indices: number[] = [], values: number[] = [];
  for (let r = 0; r < b; r++) {
    for (const c of order(x, r, n).slice(0, k)) {
      indices.push(c);
      values.push(x.values[r * n + c]);
    }
  }
  return { indices, values };
}

gpuTest("topkIndices: the k best per row, best first, ties to the lower index", async () => {
  // Scores are multiples of 1/8 in a small range, so rows hold many exact ties; n from below one
  // lane per candidate (5) to many candidates per lane (3000), k up to the limit 16.
  const rand = new Rng(11);
  for (const [b, n, k] of [[3, 5, 5], [2, 70, 1], [4, 1000, 16], [1, 3000, 7], [5, 64, 16]]) {
    const values = Float64Array.from({ length: b * n }, () => Math.floor(rand.next() * 40) / 8);
    const s = tensor(Float32Array.from(values), [b, n]);
    const { indices, values: top } = ops.topkIndices(s, k);
    const want = cpuTopkIndices({ shape: [b, n], values }, k);
    assertEquals(Array.from(await indices.data()), want.indices, `indices b=${b} n=${n} k=${k}`);
    assertEquals(Array.from(await top.data()), want.values, `values b=${b} n=${n} k=${k}`);
    [s, indices, top].forEach((t) => t.dispose());
  }
  const s = tensor([1, 2, 3], [1, 3]);
  assertThrows(() => ops.topkIndices(s, 4), "k = 4");
  s.dispose();
});
