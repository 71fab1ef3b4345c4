import { assertClose, checkOp, cpuMatmul, gpuTest, numel } from "./helpers.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { counters, writeBuffer } from "../kernels/runtime.ts";
import { setFastPaths } from "../kernels/fast_paths.ts";
import { computesTranspose } from "../kernels/matmul.wgsl.ts";
import { noGrad, ops, tensor, tidy } from "../mod.ts";
import { SGD } from "../core/optim/sgd.ts";
import { Rng } from "../core/random.ts";

// Forward tolerance for the small cases: each output is an f32 dot product of ≤ 13 terms with
// inputs in [-2, 2], so the rounding error is below K·2⁻²⁴·Σ|a·b| ≈ 13·6e-8·52 ≈ 4e-5; 1e-4 absolute
// + 1e-4 relative covers it. Gradients are themselves such products (contracting over M or N ≤ 13,
// summed over ≤ 6 batches): 5e-4 absolute + 1e-3 relative against central differences in f64.

async function checkMatmul(
  aShape: number[],
  bShape: number[],
  transA = false,
  transB = false,
): Promise<void> {
  await checkOp({
    inputs: [{ shape: aShape }, { shape: bShape }],
    gpu: ([a, b]) => ops.matmul(a, b, { transA, transB }),
    cpu: ([a, b]) => cpuMatmul(a, b, transA, transB),
    atol: 1e-4,
    rtol: 1e-4,
    gradAtol: 5e-4,
    gradRtol: 1e-3,
  });
}

/** One forward case: A's and B's shapes and their transposes. */
type ForwardCase = [number[], number[], boolean, boolean];

/**
 * Forward products of uniform [-0.5, 0.5] operands with K = 257 against an f64 reference. Terms
 * are in [-0.25, 0.25] with random signs, so f32 accumulation error grows like √K·2⁻²⁴ times the
 * term size: 5·√K·6e-8 gives a generous margin while a wrong index fails by ~0.1.
 */
async function checkForwardK257(cases: ForwardCase[], seed: number): Promise<void> {
  const rng = new Rng(seed);
  const host = (shape: number[]) => ({
    shape,
    values: Float64Array.from(Float32Array.from({ length: numel(shape) }, () => rng.next() - 0.5)),
  });
  for (const [aShape, bShape, transA, transB] of cases) {
    const a = host(aShape), b = host(bShape);
    const expected = cpuMatmul(a, b, transA, transB);
    const out = tidy(() =>
      ops.matmul(
        tensor(Float32Array.from(a.values), aShape),
        tensor(Float32Array.from(b.values), bShape),
        { transA, transB },
      )
    );
    assertEquals(out.shape, expected.shape, "output shape");
    assertClose(await out.data(), expected.values, 5 * Math.sqrt(257) * 6e-8 * 4, 1e-5, "forward");
    noGrad(() => out.dispose());
  }
}

gpuTest("matmul 2-D forward and backward match the CPU reference, odd sizes included", async () => {
  for (
    const [a, b] of [
      [[7, 13], [13, 5]],
      [[1, 1], [1, 1]],
      [[3, 4], [4, 8]],
      [[9, 3], [3, 11]],
      [[2, 17], [17, 1]],
    ]
  ) await checkMatmul(a, b);
});

gpuTest("matmul with all four transpose combinations matches the CPU reference", async () => {
  // M = 5, K = 6, N = 7: none is a tile multiple.
  await checkMatmul([5, 6], [6, 7], false, false);
  await checkMatmul([6, 5], [6, 7], true, false);
  await checkMatmul([5, 6], [7, 6], false, true);
  await checkMatmul([6, 5], [7, 6], true, true);
  await checkMatmul([2, 6, 5], [2, 7, 6], true, true);
  // M = 12, K = 8, N = 4 (and 16): multiples of 4, so transposed operands are packed by 4×4 blocks;
  // batched and broadcast B too.
  await checkMatmul([8, 12], [4, 8], true, true);
  await checkMatmul([3, 8, 12], [16, 8], true, true);
  await checkMatmul([2, 8, 4], [2, 16, 8], true, true);
});

gpuTest("matmul over batch dims, same and broadcast", async () => {
  await checkMatmul([3, 4, 5], [3, 5, 6]);
  // N a multiple of 4: B is packed a vec4 at a time; K = 5 pads each matrix with zero rows.
  await checkMatmul([3, 4, 5], [3, 5, 8]);
  // A shared weight: [B, T, D] @ [D, H], with and without transB.
  await checkMatmul([2, 3, 5], [5, 7]);
  await checkMatmul([2, 3, 5], [7, 5], false, true);
  await checkMatmul([2, 5, 3], [5, 7], true, false);
  // A 2-D A against a batched B.
  await checkMatmul([4, 5], [3, 5, 6]);
  await checkMatmul([5, 4], [3, 6, 5], true, true);
  // Size-1 batch dims broadcast against each other.
  await checkMatmul([2, 1, 3, 5], [1, 3, 5, 4]);
});

gpuTest(
  "matmul 130×257 @ 257×67, large-tile and batched transposed cases match an f64 reference",
  () =>
    checkForwardK257([
      [[130, 257], [257, 67], false, false],
      [[3, 257, 130], [67, 257], true, true],
      // Wide enough for the large CPU register tile: scalar stores (N = 258), vec4 stores with a
      // transposed B over a folded batch, and row/column counts that are not tile multiples.
      [[70, 257], [257, 258], false, false],
      [[2, 65, 257], [256, 257], false, true],
    ], 99),
);

gpuTest(
  "tall narrow products, computed as their transpose on CPU adapters, match the CPU reference",
  async () => {
    // M ≥ 8·N with N ≤ 64: on a CPU adapter these run as Cᵀ = op(B)ᵀ·op(A)ᵀ with a transposed
    // store; gradients of the [41, 5] cases are themselves such products (dA = g·Bᵀ: 41×6).
    assert(computesTranspose("llvmpipe (LLVM 15.0.6, 256 bits)", 41, 5), "41×5 on lavapipe");
    assert(!computesTranspose("llvmpipe (LLVM 15.0.6, 256 bits)", 41, 6), "41 < 8·6");
    assert(!computesTranspose("llvmpipe (LLVM 15.0.6, 256 bits)", 4096, 65), "N above 64");
    assert(!computesTranspose("NVIDIA H200", 4096, 8), "GPUs keep the direct product");
    await checkMatmul([41, 6], [6, 5], false, false);
    await checkMatmul([6, 41], [6, 5], true, false);
    await checkMatmul([41, 6], [5, 6], false, true);
    await checkMatmul([6, 41], [5, 6], true, true);
    await checkMatmul([2, 41, 6], [6, 3]);
    await checkMatmul([2, 1, 40, 4], [1, 3, 4, 4]);
    await checkForwardK257([
      [[3, 520, 257], [3, 257, 33], false, false],
      [[3, 257, 520], [257, 32], true, false],
      [[2, 300, 257], [2, 7, 257], false, true],
    ], 7);
  },
);

gpuTest("matmul rejects mismatched inner dims and rank-1 operands", () => {
  tidy(() => {
    assertThrows(
      () => ops.matmul(tensor(new Float32Array(6), [2, 3]), tensor([1, 2], [2, 1])),
      "3 vs 2",
    );
    assertThrows(() => ops.matmul(tensor([1, 2], [2]), tensor([1, 2], [2, 1])), "rank ≥ 2");
  });
});

gpuTest(
  "backward computes no gradient for a constant operand: fewer kernels, same weight gradient",
  async () => {
    const rng = new Rng(4);
    const values = (n: number) => Array.from({ length: n }, () => rng.normal());
    const [x, w, m] = [values(6 * 5), values(5 * 3), values(6 * 3).map((v) => (v > 0 ? 1 : 0))];
    const run = async (inputNeedsGrad: boolean) => {
      const a = tensor(x, [6, 5]).requireGrad(inputNeedsGrad);
      const b = tensor(w, [5, 3]).requireGrad();
      const mask = tensor(m, [6, 3]);
      let kernels = 0;
      tidy(() => {
        const y = ops.sum(ops.mul(ops.add(ops.matmul(a, b), mask), mask));
        const before = counters.dispatches;
        y.backward();
        kernels = counters.dispatches - before;
      });
      const grad = Array.from(await b.grad!.data());
      for (const t of [a, b, mask]) t.dispose();
      return { kernels, grad };
    };
    const constant = await run(false), variable = await run(true);
    assertEquals(
      constant.grad,
      variable.grad,
      "the weight's gradient does not depend on the input",
    );
    // The input's gradient is a product (packing + product kernels) that the constant run skips.
    assert(
      variable.kernels - constant.kernels >= 2,
      `kernels in backward: ${variable.kernels} with the input's gradient, ${constant.kernels} without`,
    );
  },
);

gpuTest(
  "a packed B is reused by later products of the same buffer and repacked after any write to it",
  async () => {
    const rng = new Rng(12);
    const host = (shape: number[]) => ({
      shape,
      values: Float64Array.from(Float32Array.from({ length: numel(shape) }, () => rng.normal())),
    });
    // K = 8 and a row-major A: A needs no packing, so a product is 2 dispatches (pack B, product)
    // or 1 when the packed B is reused.
    const x = host([6, 8]), w0 = host([8, 5]), w1 = host([8, 5]);
    const a = tensor(Float32Array.from(x.values), x.shape);
    const w = tensor(Float32Array.from(w0.values), w0.shape).requireGrad();
    const product = () => {
      const before = counters.dispatches;
      const y = noGrad(() => ops.matmul(a, w));
      return { y, dispatches: counters.dispatches - before };
    };
    const first = product(), second = product();
    assertEquals([first.dispatches, second.dispatches], [2, 1], "dispatches of two products");
    // f32 dot products of 8 normal terms: rounding ≤ 8·6e-8·Σ|a·b| ≈ 2e-5; 1e-4 covers it.
    assertClose(await second.y.data(), cpuMatmul(x, w0).values, 1e-4, 1e-4, "reused packing");
    // An upload into the weight invalidates its packing.
    writeBuffer(w.buffer, Float32Array.from(w1.values));
    const third = product();
    assertEquals(third.dispatches, 2, "repacked after an upload");
    assertClose(await third.y.data(), cpuMatmul(x, w1).values, 1e-4, 1e-4, "after an upload");
    // So does a kernel writing it in place (an SGD step: w ← w − 0.5·g with g = ∂Σ(a·w)/∂w).
    const opt = new SGD([w], { lr: 0.5 });
    tidy(() => ops.sum(ops.matmul(a, w)).backward());
    opt.step();
    const stepped = { shape: w1.shape, values: Float64Array.from(await w.data()) };
    assert(stepped.values.some((v, i) => v !== w1.values[i]), "the step changed the weight");
    const fourth = product();
    assertEquals(fourth.dispatches, 2, "repacked after an in-place kernel");
    assertClose(await fourth.y.data(), cpuMatmul(x, stepped).values, 1e-4, 1e-4, "after a step");
    opt.dispose();
    noGrad(() => {
      for (const t of [first.y, second.y, third.y, fourth.y, a, w]) t.dispose();
    });
  },
);

gpuTest("with the fast paths off every product packs its B", () => {
  const a = tensor(new Float32Array(6 * 8).fill(1), [6, 8]);
  const w = tensor(new Float32Array(8 * 5).fill(2), [8, 5]);
  setFastPaths(false);
  try {
    const before = counters.dispatches;
    noGrad(() => tidy(() => void [ops.matmul(a, w), ops.matmul(a, w)]));
    assertEquals(counters.dispatches - before, 4, "two packs and two products");
  } finally {
    setFastPaths(true);
  }
  a.dispose();
  w.dispose();
});
