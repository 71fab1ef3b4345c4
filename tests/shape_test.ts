import { assertEquals } from "./assert.ts";
import { checkOp, gpuTest, type HostTensor, numel, stridesOf } from "./helpers.ts";
import { ops, tensor } from "../mod.ts";

// Shape ops only move f32 values, so the forward must be exact (atol 0). The gradient of Σ(out·w)
// is w moved back (sums of at most one term per element), exact in f32, while the f64 central
// difference carries ~1e-9 error; the default gradient tolerance (1e-4 + 1e-3 rel) has margin.

/** CPU reference: out[coord] = x[coord permuted back]. */
function cpuPermute(x: HostTensor, axes: number[]): HostTensor {
  const shape = axes.map((a) => x.shape[a]);
  const xs = stridesOf(x.shape), os = stridesOf(shape);
  const values = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (Math.floor(i / os[d]) % shape[d]) * xs[axes[d]];
    values[i] = x.values[src];
  }
  return { shape, values };
}

/** CPU reference of slice with already-resolved bounds. */
function cpuSlice(x: HostTensor, axis: number, from: number, to: number): HostTensor {
  const shape = x.shape.map((d, i) => (i === axis ? to - from : d));
  const xs = stridesOf(x.shape), os = stridesOf(shape);
  const values = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / os[d]) % shape[d];
      src += (d === axis ? c + from : c) * xs[d];
    }
    values[i] = x.values[src];
  }
  return { shape, values };
}

/** CPU reference of concat: walks the output and picks the part each coordinate falls in. */
function cpuConcat(parts: HostTensor[], axis: number): HostTensor {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((n, p) => n + p.shape[axis], 0);
  const os = stridesOf(shape);
  const values = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) {
    const coord = shape.map((d, k) => Math.floor(i / os[k]) % d);
    let k = 0;
    while (coord[axis] >= parts[k].shape[axis]) coord[axis] -= parts[k++].shape[axis];
    const ps = stridesOf(parts[k].shape);
    values[i] = parts[k].values[coord.reduce((s, c, d) => s + c * ps[d], 0)];
  }
  return { shape, values };
}

gpuTest("permute forward and backward match the CPU reference for ranks 1–4", async () => {
  const cases: [number[], number[]][] = [
    [[5], [0]],
    [[3, 7], [1, 0]],
    [[2, 3, 5], [2, 0, 1]],
    [[3, 1, 4, 5], [3, 1, 0, 2]],
    [[2, 3, 4, 3], [0, 2, 3, 1]],
    // Attention's head split: the innermost dim stays contiguous, so it moves as vec4s.
    [[2, 3, 2, 8], [0, 2, 1, 3]],
  ];
  for (const [shape, axes] of cases) {
    await checkOp({
      inputs: [{ shape }],
      gpu: ([x]) => ops.permute(x, axes),
      cpu: ([x]) => cpuPermute(x, axes),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("transpose swaps the last two dims by default and any two when asked", async () => {
  await checkOp({
    inputs: [{ shape: [2, 5, 3] }],
    gpu: ([x]) => ops.transpose(x),
    cpu: ([x]) => cpuPermute(x, [0, 2, 1]),
    atol: 0,
    rtol: 0,
  });
  await checkOp({
    inputs: [{ shape: [3, 2, 1, 7] }],
    gpu: ([x]) => ops.transpose(x, 0, -2),
    cpu: ([x]) => cpuPermute(x, [2, 1, 0, 3]),
    atol: 0,
    rtol: 0,
  });
});

gpuTest("slice forward and zero-padded backward, with negative and clamped bounds", async () => {
  const cases: [number[], number, number, number, number, number][] = [
    // shape, axis, start, end, resolved from, resolved to
    [[9], 0, 2, 7, 2, 7],
    [[4, 7], 1, -5, -1, 2, 6],
    [[3, 5, 2], 0, 1, 100, 1, 3],
    [[2, 3, 5, 3], -2, 0, 3, 0, 3],
    [[2, 3, 5, 3], 2, -100, 1, 0, 1],
    // Whole vec4 rows (vec4 copy), and a row part at an offset that is not a multiple of 4.
    [[3, 6, 8], 1, 1, 4, 1, 4],
    [[3, 8], 1, 2, 6, 2, 6],
  ];
  for (const [shape, axis, start, end, from, to] of cases) {
    const ax = axis < 0 ? axis + shape.length : axis;
    await checkOp({
      inputs: [{ shape }],
      gpu: ([x]) => ops.slice(x, axis, start, end),
      cpu: ([x]) => cpuSlice(x, ax, from, to),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("slice with an empty range gives a size-0 dim", () => {
  const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const y = ops.slice(x, 1, 2, 1);
  assertEquals(y.shape, [2, 0]);
  x.dispose();
  y.dispose();
});

gpuTest("concat forward and sliced backward along every axis", async () => {
  const cases: [number[][], number][] = [
    [[[3], [5], [1]], 0],
    [[[2, 3], [2, 4]], 1],
    [[[1, 3, 2], [4, 3, 2], [2, 3, 2]], 0],
    [[[2, 3, 5, 1], [2, 3, 5, 2]], -1],
    [[[2, 1, 3, 2], [2, 3, 3, 2]], 1],
    [[[2, 3, 8], [2, 1, 8]], 1],
  ];
  for (const [shapes, axis] of cases) {
    const ax = axis < 0 ? axis + shapes[0].length : axis;
    await checkOp({
      inputs: shapes.map((shape) => ({ shape })),
      gpu: (xs) => ops.concat(xs, axis),
      cpu: (xs) => cpuConcat(xs, ax),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("stack inserts a new dim at any position, forward and backward", async () => {
  for (const axis of [0, 1, 2, -1]) {
    const shape = [3, 5];
    const ax = axis < 0 ? axis + shape.length + 1 : axis;
    const expanded = [...shape.slice(0, ax), 1, ...shape.slice(ax)];
    await checkOp({
      inputs: [{ shape }, { shape }, { shape }],
      gpu: (xs) => ops.stack(xs, axis),
      cpu: (xs) => cpuConcat(xs.map((x) => ({ shape: expanded, values: x.values })), ax),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("unsqueeze and squeeze are views with gradient", async () => {
  await checkOp({
    inputs: [{ shape: [3, 1, 4] }],
    gpu: ([x]) => ops.unsqueeze(ops.squeeze(ops.unsqueeze(x, -1), 1), 0),
    cpu: ([x]) => ({ shape: [1, 3, 4, 1], values: x.values }),
    atol: 0,
    rtol: 0,
  });
  const x = tensor([1, 2, 3], [1, 3, 1]);
  const all = ops.squeeze(x);
  assertEquals(all.shape, [3]);
  let threw = false;
  try {
    ops.squeeze(x, 1);
  } catch {
    threw = true;
  }
  assertEquals(threw, true, "squeezing a dim that is not 1 must throw");
  x.dispose();
  all.dispose();
});

gpuTest("shape ops move i32 data unchanged", async () => {
  const x = tensor([0, -1, 2, -3, 4, 2147483647], [2, 3], "i32");
  const y = ops.concat([ops.transpose(x), ops.slice(ops.transpose(x), 0, 1, 2)], 0);
  assertEquals(y.dtype, "i32");
  assertEquals(Array.from(await y.data()), [0, -3, -1, 4, 2, 2147483647, -1, 4]);
});

/** CPU reference of broadcastTo: each output coordinate reads x at that coordinate (size-1 dims at 0). */
function cpuBroadcastTo(x: HostTensor, shape: number[]): HostTensor {
  const pad = [...Array(shape.length - x.shape.length).fill(1), ...x.shape];
  const xs = stridesOf(pad), os = stridesOf(shape);
  const values = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      if (pad[d] !== 1) src += (Math.floor(i / os[d]) % shape[d]) * xs[d];
    }
    values[i] = x.values[src];
  }
  return { shape, values };
}

gpuTest("broadcastTo forward and summed backward match the f64 reference", async () => {
  // The gradient of an input element is the sum of w over the ≤ 24 outputs it was copied to:
  // f32 sums of 24 terms in [-1, 1] are off by ≲ 24·6e-8, inside the default 1e-4 + 1e-3 rel.
  const cases: [number[], number[]][] = [
    [[3], [4, 3]],
    [[1], [5]],
    [[2, 1, 3], [2, 4, 3]],
    [[4, 1], [2, 3, 4, 2]],
    [[1, 3, 1], [2, 3, 4]],
    [[2, 3], [2, 3]],
  ];
  for (const [from, to] of cases) {
    await checkOp({
      inputs: [{ shape: from }],
      gpu: ([x]) => ops.broadcastTo(x, to),
      cpu: ([x]) => cpuBroadcastTo(x, to),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("reshape forward and backward match the f64 reference, -1 inferred", async () => {
  const cases: [number[], number[], number[]][] = [
    [[2, 3, 4], [6, 4], [6, 4]],
    [[2, 3, 4], [4, -1], [4, 6]],
    [[12], [2, 1, 6], [2, 1, 6]],
    [[3, 1, 5], [-1], [15]],
  ];
  for (const [from, to, resolved] of cases) {
    await checkOp({
      inputs: [{ shape: from }],
      gpu: ([x]) => x.reshape(to),
      cpu: ([x]) => ({ shape: resolved, values: x.values }),
      atol: 0,
      rtol: 0,
    });
  }
});
