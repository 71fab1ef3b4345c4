import { assertClose, checkOp, gpuTest, type HostTensor, numel, stridesOf } from "./helpers.ts";
import { assert, assertEquals } from "./assert.ts";
import { noGrad, ops, type Tensor, tensor, tidy } from "../mod.ts";

// Forward tolerance 1e-5 + 1e-4 relative: each probability is exp(x − max)/Σ with f32 exp (a few
// ULP) and an f32 sum of ≤ 130 terms (relative error ≲ 130·6e-8 ≈ 1e-5 worst case).
// Gradient tolerance (checkOp default 1e-4 + 1e-3 relative): the f64 central difference is exact to
// ~1e-9 and the GPU gradient carries the same f32 rounding as the forward.

const MASKED_BELOW = -1e8;

/** f64 reference: softmax or log-softmax of x + mask (mask broadcast) over the last axis. */
function cpuSoftmax(x: HostTensor, mask: HostTensor | null, log: boolean): HostTensor {
  const cols = x.shape.at(-1)!;
  const rows = numel(x.shape) / cols;
  const out = new Float64Array(x.values.length);
  const rank = x.shape.length;
  const maskShape = mask ? [...Array(rank - mask.shape.length).fill(1), ...mask.shape] : [];
  const ms = stridesOf(maskShape);
  const xs = stridesOf(x.shape);
  const maskAt = (i: number) => {
    if (!mask) return 0;
    let off = 0;
    for (let d = 0; d < rank; d++) {
      if (maskShape[d] !== 1) off += (Math.floor(i / xs[d]) % x.shape[d]) * ms[d];
    }
    return mask.values[off];
  };
  for (let r = 0; r < rows; r++) {
    const v = Array.from({ length: cols }, (_, j) => x.values[r * cols + j] + maskAt(r * cols + j));
    const kept = v.filter((s) => s > MASKED_BELOW);
    const top = Math.max(...kept);
    const total = kept.reduce((s, a) => s + Math.exp(a - top), 0);
    const lse = kept.length ? top + Math.log(total) : 0;
    for (let j = 0; j < cols; j++) {
      out[r * cols + j] = log ? v[j] - lse : v[j] > MASKED_BELOW ? Math.exp(v[j] - lse) : 0;
    }
  }
  return { shape: x.shape, values: out };
}

/** A [B, S] key-padding mask as [B, 1, 1, S]: batch b keeps its first `lengths[b]` keys. */
function keyPadding(lengths: number[], s: number, masked: number): number[] {
  return lengths.flatMap((len) => Array.from({ length: s }, (_, j) => (j < len ? 0 : masked)));
}

/** A [T, S] causal mask aligned to the end: query t sees keys ≤ t + S − T. */
function causal(t: number, s: number, masked: number): number[] {
  return Array.from({ length: t * s }, (_, i) => (i % s <= Math.floor(i / s) + s - t ? 0 : masked));
}

for (const log of [false, true]) {
  const name = log ? "logSoftmax" : "softmax";
  const op = log ? ops.logSoftmax : ops.softmax;

  gpuTest(
    `${name} forward and backward match the reference on odd and vec4 row lengths`,
    async () => {
      // Row lengths around and above the row workgroup (16 invocations on lavapipe, 128 on GPUs);
      // multiples of 4 take the vec4 kernels.
      for (const shape of [[7], [3, 33], [2, 130], [2, 3, 5], [4], [3, 32], [2, 132]]) {
        await checkOp({
          inputs: [{ shape, range: [-4, 4] }],
          gpu: ([x]) => op(x),
          cpu: ([x]) => cpuSoftmax(x, null, log),
        });
      }
    },
  );
}

gpuTest("softmax with key-padding and causal masks, incl. a fully masked row", async () => {
  // s = 7 takes the scalar kernel, s = 8 the vec4 one; a mask broadcast along the row ([b, h, t, 1])
  // sends a vec4-wide row back to the scalar kernel.
  for (const s of [7, 8]) {
    const [b, h, t] = [2, 2, 3];
    // Batch 1 has no keys at all: its rows are fully masked and must come out 0, not NaN.
    const cases: [number[], number[]][] = [
      [[b, 1, 1, s], keyPadding([5, 0], s, -1e9)],
      [[b, 1, 1, s], keyPadding([s, 0], s, -Infinity)],
      [[t, s], causal(t, s, -1e9)],
      [[b, h, t, 1], Array.from({ length: b * h * t }, (_, i) => (i % 5 === 0 ? -1e9 : i / 7))],
    ];
    for (const [maskShape, values] of cases) {
      await checkOp({
        inputs: [{ shape: [b, h, t, s] }, { shape: maskShape, values, grad: false }],
        gpu: ([x, mask]) => ops.softmax(x, mask),
        cpu: ([x, mask]) => cpuSoftmax(x, mask, false),
      });
    }
  }
});

gpuTest("logSoftmax with masks matches the reference on the kept scores", async () => {
  // Masked log-probabilities are ≈ −1e9, too large for a finite difference in f64 beside O(1)
  // terms, so the checked output keeps only unmasked positions; the next test covers the others.
  // s = 33 takes the scalar kernel, s = 36 the vec4 one.
  for (const s of [33, 36]) {
    const [b, t] = [2, 3];
    const cases: [number[], number[]][] = [
      [[b, 1, s], keyPadding([20, 0], s, -1e9)],
      [[t, s], causal(t, s, -1e9)],
    ];
    for (const [maskShape, values] of cases) {
      await checkOp({
        inputs: [{ shape: [b, t, s] }, { shape: maskShape, values, grad: false }],
        gpu: ([x, mask]) => ops.mul(ops.logSoftmax(x, mask), ops.gt(mask, MASKED_BELOW)),
        cpu: ([x, mask]) => {
          const y = cpuSoftmax(x, mask, true);
          const keep = cpuSoftmax({ shape: x.shape, values: x.values.map(() => 0) }, mask, false);
          return { shape: y.shape, values: y.values.map((v, i) => (keep.values[i] > 0 ? v : 0)) };
        },
      });
    }
  }
});

gpuTest(
  "logSoftmax of masked scores is x + mask − lse and passes the gradient through",
  async () => {
    const xs = [0.5, -1, 2, 0.25, 1, -0.5];
    const mask = [0, -1e9, 0, -1e9, -1e9, -1e9]; // row 0 keeps two scores, row 1 none
    const g = [0.3, -0.7, 0.2, 1.1, -0.4, 0.9];
    const { y, dx } = tidy(() => {
      const x = tensor(xs, [2, 3]).requireGrad();
      const out = ops.logSoftmax(x, tensor(mask, [2, 3]));
      out.backward(tensor(g, [2, 3]));
      return { y: out.detach(), dx: x.grad!.detach() };
    });
    const [yv, dxv] = [await y.data(), await dx.data()];
    const lse = Math.log(Math.exp(0.5) + Math.exp(2));
    const expectedY = [0.5 - lse, -1 - 1e9 - lse, 2 - lse, 0.25 - 1e9, 1 - 1e9, -0.5 - 1e9];
    const p = [Math.exp(0.5 - lse), 0, Math.exp(2 - lse)];
    const gsum = g[0] + g[1] + g[2];
    const expectedDx = [...p.map((pj, j) => g[j] - pj * gsum), ...g.slice(3)];
    for (let i = 0; i < 6; i++) {
      assert(Math.abs(yv[i] - expectedY[i]) <= 1e-5 + 1e-6 * Math.abs(expectedY[i]), `y[${i}]`);
      assert(Math.abs(dxv[i] - expectedDx[i]) <= 1e-5, `dx[${i}]: ${dxv[i]} vs ${expectedDx[i]}`);
    }
    noGrad(() => [y, dx].forEach((t) => t.dispose()));
  },
);

gpuTest("softmax rejects a mask that does not broadcast to the scores", () => {
  tidy(() => {
    let message = "";
    try {
      ops.softmax(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(2), [2]));
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message.includes("does not broadcast"), true, message);
  });
});

gpuTest("softmax rows of 1024 with a wide range match the f64 reference element-wise", async () => {
  // Inputs in [-30, 30]: probabilities down to e^-60 of the row maximum. Each one is
  // exp(x − max)/Σ with WGSL exp (≤ 3 + 2|x| ULP, ~7e-6 relative at x = −60) and an f32 sum of 1024
  // terms (rounding errors that add like a random walk: ~√1024·6e-8 ≈ 2e-6), so 2e-5 relative
  // (lavapipe stays within 1e-6); 1e-10 absolute only for the tiniest values. Every row also sums
  // to 1 within 1e-4.
  const [rows, cols] = [64, 1024];
  const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * 30);
  const y: Tensor = tidy(() => ops.softmax(tensor(values, [rows, cols])));
  const out = await y.data();
  const expected = cpuSoftmax(
    { shape: [rows, cols], values: Float64Array.from(values) },
    null,
    false,
  );
  assertClose(out, expected.values, 1e-10, 2e-5, "softmax [64, 1024]");
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += out[r * cols + j];
    assert(Math.abs(s - 1) < 1e-4, `row ${r} sums to ${s}`);
  }
  y.dispose();
});
