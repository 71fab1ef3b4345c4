import { assertEquals } from "./assert.ts";
import { checkOp, gpuTest, type HostTensor, stridesOf } from "./helpers.ts";
import { ops, tensor, tidy } from "../mod.ts";

// Tolerances: sums of ≤ 400 f32 terms of magnitude ≤ 2 carry a rounding error ≲ 400 · 6e-8 · 2 ≈
// 5e-5 absolute, so the forward uses 1e-4 absolute + 1e-4 relative (max is exact). Gradients of
// sum/mean are exact broadcasts; the finite difference of max is exact away from ties (the inputs
// are random, so ties have probability 0), hence the default gradient tolerance suffices.

/** f64 reduction of `x` over `axes` with `combine`, keeping reduced dims as size 1 when `keep`. */
function cpuReduce(
  x: HostTensor,
  axes: number[],
  combine: (values: number[]) => number,
  keep: boolean,
): HostTensor {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Map<number, number[]>();
  const inStrides = stridesOf(x.shape), outStrides = stridesOf(kept);
  for (let i = 0; i < x.values.length; i++) {
    let at = 0;
    x.shape.forEach((_, d) => {
      const c = Math.floor(i / inStrides[d]) % x.shape[d];
      if (!axes.includes(d)) at += c * outStrides[d];
    });
    if (!out.has(at)) out.set(at, []);
    out.get(at)!.push(x.values[i]);
  }
  const size = kept.reduce((a, b) => a * b, 1);
  const values = Float64Array.from({ length: size }, (_, i) => combine(out.get(i)!));
  return { shape: keep ? kept : x.shape.filter((_, i) => !axes.includes(i)), values };
}

const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);
const cases: [string, typeof ops.sum, (v: number[]) => number][] = [
  ["sum", ops.sum, sumOf],
  ["mean", ops.mean, (v) => sumOf(v) / v.length],
  ["max", ops.max, (v) => Math.max(...v)],
];

// [shape, axes]: one axis at each position, neighbouring axes (one pass), axes apart (two passes),
// all axes, and long columns over few outputs (the split two-pass column reduction, scalar and vec4).
const shapes: [number[], number[]][] = [
  [[7], [0]],
  [[3, 5], [1]],
  [[3, 5], [0]],
  [[2, 3, 4], [1]],
  [[2, 3, 4], [0, 1]],
  [[2, 3, 4], [0, 2]],
  [[2, 3, 4, 5], [1, 2]],
  [[2, 3, 4], [0, 1, 2]],
  [[300, 5], [0]],
  [[4, 50, 8], [0, 1]],
];

for (const [name, gpu, combine] of cases) {
  gpuTest(`${name} over axes matches the CPU reference, forward and backward`, async () => {
    for (const [shape, axes] of shapes) {
      for (const keep of [false, true]) {
        await checkOp({
          inputs: [{ shape }],
          gpu: ([x]) => gpu(x, axes, keep),
          cpu: ([x]) => cpuReduce(x, axes, combine, keep),
          atol: 1e-4,
          rtol: 1e-4,
        });
      }
    }
  });
}

gpuTest("max shares the gradient equally among tied maxima", async () => {
  const x = tensor([1, 3, 3, 2, 5, 5, 5, 0], [2, 4]).requireGrad();
  tidy(() => ops.sum(ops.max(x, 1)).backward());
  assertEquals(
    Array.from(await x.grad!.data()),
    [0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3, 0].map(Math.fround),
  );
  x.grad!.dispose();
  x.dispose();
});

/** f64 reference of sumTo: each element adds into the target coordinate broadcasting maps it from. */
function cpuSumTo(x: HostTensor, shape: number[]): HostTensor {
  const lead = x.shape.length - shape.length;
  const xs = stridesOf(x.shape), os = stridesOf(shape);
  const values = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.values.length; i++) {
    let at = 0;
    for (let d = lead; d < x.shape.length; d++) {
      const c = Math.floor(i / xs[d]) % x.shape[d];
      if (shape[d - lead] !== 1) at += c * os[d - lead];
    }
    values[at] += x.values[i];
  }
  return { shape, values };
}

gpuTest("sumTo forward and broadcast backward match the f64 reference", async () => {
  // Sums of ≤ 8 values in [-2, 2]: f32 error ≲ 8·2·6e-8 ≈ 1e-6, inside atol 1e-5. The gradient
  // is w copied back (exact), against an f64 central difference exact to ~1e-9.
  const cases: [number[], number[]][] = [
    [[4, 3], [3]],
    [[2, 4, 3], [2, 1, 3]],
    [[2, 3, 4], [1, 3, 1]],
    [[5, 2], [1]],
    [[3, 4], [3, 4]],
    [[2, 3, 2, 4], [3, 1, 4]],
  ];
  for (const [from, to] of cases) {
    await checkOp({
      inputs: [{ shape: from }],
      gpu: ([x]) => ops.sumTo(x, to),
      cpu: ([x]) => cpuSumTo(x, to),
      atol: 1e-5,
      rtol: 1e-5,
    });
  }
});
