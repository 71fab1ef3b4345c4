import { checkOp, cpuBinary, cpuUnary, gpuTest } from "./helpers.ts";
import { ops, type Tensor, tensor } from "../mod.ts";
import { assertEquals } from "./assert.ts";
import { coalesceDims } from "../kernels/elementwise.wgsl.ts";

// f32 forward tolerance: the GPU rounds each result to f32 (relative 6e-8) and WGSL's exp/log/tanh
// are allowed a few ULP more, so 1e-5 absolute + 1e-4 relative leaves two orders of margin.
// Gradient tolerance: the f64 central difference with eps 1e-6 is accurate to ~1e-9, while the GPU
// gradient carries f32 rounding of the chain (~1e-6 relative), so 1e-4 + 1e-3 relative.

const binaryCases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] =
  [
    ["add", ops.add, (x, y) => x + y],
    ["sub", ops.sub, (x, y) => x - y],
    ["mul", ops.mul, (x, y) => x * y],
    ["div", ops.div, (x, y) => x / y],
  ];

const shapePairs: [number[], number[]][] = [
  [[3, 5], [3, 5]],
  [[2, 3, 4], [4]],
  [[4, 1, 3], [1, 5, 1]],
  [[7], [1]],
  // The two-dim fast paths after coalescing: a bias row (vec4 and scalar), a row on the left, a
  // per-row value (vec4), a column times a row; then a general case that coalesces to rank 3.
  [[3, 5], [5]],
  [[4], [3, 4]],
  [[2, 3, 8], [2, 3, 1]],
  [[3, 1], [1, 5]],
  [[2, 2, 3, 4], [2, 1, 1, 4]],
  [[1, 3, 1, 5], [3, 5]],
];

for (const [name, gpu, f] of binaryCases) {
  gpuTest(`${name} forward and backward match the CPU reference with broadcasting`, async () => {
    for (const [sa, sb] of shapePairs) {
      await checkOp({
        inputs: [{ shape: sa }, { shape: sb, range: name === "div" ? [0.5, 2] : [-2, 2] }],
        gpu: ([a, b]) => gpu(a, b),
        cpu: ([a, b]) => cpuBinary(a, b, f),
      });
    }
  });
}

gpuTest("pow with tensor exponent matches finite differences", async () => {
  await checkOp({
    inputs: [{ shape: [3, 4], range: [0.5, 2] }, { shape: [4], range: [-1.5, 2.5] }],
    gpu: ([a, b]) => ops.pow(a, b),
    cpu: ([a, b]) => cpuBinary(a, b, Math.pow),
  });
});

gpuTest("pow with integer and fractional number exponents", async () => {
  for (const p of [2, 3]) {
    await checkOp({
      inputs: [{ shape: [5, 3] }],
      gpu: ([a]) => ops.pow(a, p),
      cpu: ([a]) => cpuUnary(a, (x) => x ** p),
    });
  }
  await checkOp({
    inputs: [{ shape: [9], range: [0.2, 3] }],
    gpu: ([a]) => ops.pow(a, 1.5),
    cpu: ([a]) => cpuUnary(a, (x) => x ** 1.5),
  });
});

gpuTest("scalar add/sub/mul/div", async () => {
  await checkOp({
    inputs: [{ shape: [6] }],
    gpu: ([a]) => ops.div(ops.mul(ops.sub(ops.add(a, 3), 1), 2), 4),
    cpu: ([a]) => cpuUnary(a, (x) => ((x + 3 - 1) * 2) / 4),
  });
});

gpuTest("maximum routes the gradient to the larger input", async () => {
  await checkOp({
    inputs: [{ shape: [4, 3] }, { shape: [3] }],
    gpu: ([a, b]) => ops.maximum(a, b),
    cpu: ([a, b]) => cpuBinary(a, b, Math.max),
  });
});

const gelu = (x: number) =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const unaryCases: [string, (a: Tensor) => Tensor, (x: number) => number, [number, number]?][] = [
  ["neg", ops.neg, (x) => -x],
  ["exp", ops.exp, Math.exp],
  ["log", ops.log, Math.log, [0.2, 3]],
  ["sqrt", ops.sqrt, Math.sqrt, [0.2, 3]],
  ["abs", ops.abs, Math.abs],
  ["relu", ops.relu, (x) => Math.max(x, 0)],
  ["gelu", ops.gelu, gelu],
  ["silu", ops.silu, (x) => x * sig(x)],
  ["tanh", ops.tanh, Math.tanh],
  ["sigmoid", ops.sigmoid, sig],
];

for (const [name, gpu, f, range] of unaryCases) {
  gpuTest(`${name} forward and backward match the CPU reference`, async () => {
    // Sizes 7 (scalar path) and 12 (vec4 path).
    for (const shape of [[7], [3, 4]]) {
      await checkOp({
        inputs: [{ shape, range }],
        gpu: ([a]) => gpu(a),
        cpu: ([a]) => cpuUnary(a, f),
      });
    }
  });
}

Deno.test("coalesceDims merges dims walked together and drops size-1 dims", () => {
  // A bias over [B, T, D] is a row over [B·T, D].
  assertEquals(coalesceDims([32, 48, 128], [[6144, 128, 1], [0, 0, 1]]), {
    shape: [1536, 128],
    strides: [[128, 1], [0, 1]],
  });
  // A key-padding mask [B, 1, 1, S] over scores [B, H, T, S]: H and T merge, B and S stay apart.
  assertEquals(coalesceDims([32, 4, 48, 48], [[9216, 2304, 48, 1], [48, 0, 0, 1]]), {
    shape: [32, 192, 48],
    strides: [[9216, 48, 1], [48, 0, 1]],
  });
  assertEquals(coalesceDims([1, 3, 1], [[3, 1, 1], [0, 1, 0]]), {
    shape: [3],
    strides: [[1], [1]],
  });
});

gpuTest(
  "gt, lt and eq against tensors and numbers match the reference exactly, ties included",
  async () => {
    // Values from {-1, 0, 0.5, 2} so that equal pairs are common; comparisons are exact (0 or 1).
    const pick = (n: number, seed: number) =>
      Array.from(
        { length: n },
        (_, i) => [-1, 0, 0.5, 2][(i * 7 + seed * 3 + ((i * seed) >> 2)) % 4],
      );
    const compares: [string, typeof ops.gt, (x: number, y: number) => boolean][] = [
      ["gt", ops.gt, (x, y) => x > y],
      ["lt", ops.lt, (x, y) => x < y],
      ["eq", ops.eq, (x, y) => x === y],
    ];
    for (const [name, op, f] of compares) {
      for (
        const [sa, sb] of [[[3, 5], [3, 5]], [[2, 3, 4], [4]], [[4, 1, 3], [1, 5, 1]], [[3, 1], [
          1,
          5,
        ]]]
      ) {
        const [na, nb] = [sa, sb].map((s) => s.reduce((x, y) => x * y, 1));
        const [va, vb] = [pick(na, 1), pick(nb, 2)];
        const a = tensor(va, sa), b = tensor(vb, sb);
        const out = op(a, b);
        const expected = cpuBinary(
          { shape: sa, values: Float64Array.from(va) },
          { shape: sb, values: Float64Array.from(vb) },
          (x, y) => (f(x, y) ? 1 : 0),
        );
        assertEquals(out.shape, expected.shape, `${name} [${sa}] vs [${sb}] shape`);
        assertEquals(
          Array.from(await out.data()),
          Array.from(expected.values),
          `${name} [${sa}] vs [${sb}]`,
        );
        const scalar = op(a, 0.5);
        assertEquals(
          Array.from(await scalar.data()),
          va.map((x) => (f(x, 0.5) ? 1 : 0)),
          `${name} 0.5`,
        );
        for (const t of [a, b, out, scalar]) t.dispose();
      }
    }
  },
);
