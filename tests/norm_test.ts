import { checkOp, gpuTest, type HostTensor } from "./helpers.ts";
import { assert } from "./assert.ts";
import { noGrad, ops, type Tensor, tensor, tidy } from "../mod.ts";

// Forward tolerance 1e-5 + 1e-4 relative: normalised values are O(1) and carry the f32 rounding of
// a row sum (≤ 130 terms, ≲ 1e-5 relative) and of inverseSqrt (a few ULP).
// Gradient tolerance 2e-4 + 2e-3 relative: dx subtracts two row means from ĝ, so its f32 error is a
// few times the forward's on values that reach ~10 with rstd of inputs in [-2, 2]; the f64 central
// difference is exact to ~1e-8.
const GRAD_TOL = { gradAtol: 2e-4, gradRtol: 2e-3 };

/** f64 reference over the last axis: layer norm (centered) or RMS norm, with optional affine. */
function cpuNorm(
  x: HostTensor,
  centered: boolean,
  eps: number,
  weight?: HostTensor,
  bias?: HostTensor,
): HostTensor {
  const cols = x.shape.at(-1)!;
  const out = new Float64Array(x.values.length);
  for (let base = 0; base < out.length; base += cols) {
    const row = x.values.subarray(base, base + cols);
    const mean = centered ? row.reduce((s, v) => s + v, 0) / cols : 0;
    const ms = row.reduce((s, v) => s + (v - mean) ** 2, 0) / cols;
    const rstd = 1 / Math.sqrt(ms + eps);
    for (let j = 0; j < cols; j++) {
      out[base + j] = (row[j] - mean) * rstd * (weight?.values[j] ?? 1) + (bias?.values[j] ?? 0);
    }
  }
  return { shape: x.shape, values: out };
}

// Row lengths below and above the row workgroup (16 invocations on lavapipe, 128 on GPUs).
const shapes = [[4, 7], [2, 3, 33], [3, 130]];

gpuTest("layerNorm with weight and bias matches the reference and finite differences", async () => {
  for (const shape of shapes) {
    const d = shape.at(-1)!;
    await checkOp({
      inputs: [{ shape }, { shape: [d], range: [0.5, 1.5] }, { shape: [d] }],
      gpu: ([x, w, b]) => ops.layerNorm(x, w, b),
      cpu: ([x, w, b]) => cpuNorm(x, true, 1e-5, w, b),
      ...GRAD_TOL,
    });
  }
});

gpuTest("layerNorm without weight and bias, and with weight only", async () => {
  for (const shape of shapes) {
    await checkOp({
      inputs: [{ shape }],
      gpu: ([x]) => ops.layerNorm(x),
      cpu: ([x]) => cpuNorm(x, true, 1e-5),
      ...GRAD_TOL,
    });
  }
  await checkOp({
    inputs: [{ shape: [5, 33] }, { shape: [33] }],
    gpu: ([x, w]) => ops.layerNorm(x, w, undefined, 1e-3),
    cpu: ([x, w]) => cpuNorm(x, true, 1e-3, w),
    ...GRAD_TOL,
  });
});

gpuTest("layerNorm with bias only", async () => {
  await checkOp({
    inputs: [{ shape: [3, 7] }, { shape: [7] }],
    gpu: ([x, b]) => ops.layerNorm(x, undefined, b),
    cpu: ([x, b]) => cpuNorm(x, true, 1e-5, undefined, b),
    ...GRAD_TOL,
  });
});

gpuTest(
  "rmsNorm with and without weight matches the reference and finite differences",
  async () => {
    for (const shape of shapes) {
      const d = shape.at(-1)!;
      await checkOp({
        inputs: [{ shape }, { shape: [d] }],
        gpu: ([x, w]) => ops.rmsNorm(x, w),
        cpu: ([x, w]) => cpuNorm(x, false, 1e-6, w),
        ...GRAD_TOL,
      });
      await checkOp({
        inputs: [{ shape }],
        gpu: ([x]) => ops.rmsNorm(x),
        cpu: ([x]) => cpuNorm(x, false, 1e-6),
        ...GRAD_TOL,
      });
    }
  },
);

gpuTest("layerNorm parameter gradients sum over more rows than one chunk", async () => {
  // 150 rows span three 64-row chunks of the column-sum kernel; dbias must be Σ over rows of g.
  const [rows, cols] = [150, 9];
  const g = Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i));
  const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.3));
  const { db, dw } = tidy(() => {
    const w = tensor(new Float32Array(cols).fill(1), [cols]).requireGrad();
    const b = tensor(new Float32Array(cols), [cols]).requireGrad();
    ops.layerNorm(tensor(x, [rows, cols]), w, b).backward(tensor(g, [rows, cols]));
    return { db: b.grad!.detach(), dw: w.grad!.detach() };
  });
  const [dbv, dwv] = [await db.data(), await dw.data()];
  const xh = cpuNorm({ shape: [rows, cols], values: Float64Array.from(x) }, true, 1e-5).values;
  for (let j = 0; j < cols; j++) {
    let sumG = 0, sumGx = 0;
    for (let r = 0; r < rows; r++) {
      sumG += g[r * cols + j];
      sumGx += g[r * cols + j] * xh[r * cols + j];
    }
    assert(Math.abs(dbv[j] - sumG) < 1e-4, `dbias[${j}] = ${dbv[j]}, expected ${sumG}`);
    assert(Math.abs(dwv[j] - sumGx) < 1e-3, `dweight[${j}] = ${dwv[j]}, expected ${sumGx}`);
  }
  noGrad(() => [db, dw].forEach((t: Tensor) => t.dispose()));
});
