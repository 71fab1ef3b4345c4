import { checkOp, gpuTest, type HostTensor } from "./helpers.ts";
import { ops } from "../mod.ts";

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
