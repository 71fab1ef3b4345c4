import { checkOp, cpuBinary, gpuTest, type HostTensor, numel } from "./helpers.ts";
import { assert } from "./assert.ts";
import { noGrad, ops, type Tensor, tensor, tidy } from "../mod.ts";

// Tolerances: checkOp's defaults (1e-4 + 1e-3 relative on gradients): the similarity is O(1) in
// f32 and the f64 central difference is exact to ~1e-9.

/** f64 reference of cosine similarity along `axis` of equal-rank, broadcastable a and b. */
function cpuCosine(a: HostTensor, b: HostTensor, axis: number, eps: number): HostTensor {
  const prod = cpuBinary(a, b, (x, y) => x * y);
  const aa = cpuBinary(a, b, (x) => x * x);
  const bb = cpuBinary(a, b, (_, y) => y * y);
  const shape = prod.shape;
  const ax = axis < 0 ? axis + shape.length : axis;
  const inner = numel(shape.slice(ax + 1));
  const outer = numel(shape.slice(0, ax));
  const n = shape[ax];
  const values = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      let dot = 0, na = 0, nb = 0;
      for (let j = 0; j < n; j++) {
        const i = (o * n + j) * inner + k;
        dot += prod.values[i];
        na += aa.values[i];
        nb += bb.values[i];
      }
      values[o * inner + k] = dot / (Math.max(Math.sqrt(na), eps) * Math.max(Math.sqrt(nb), eps));
    }
  }
  return { shape: shape.filter((_, i) => i !== ax), values };
}

gpuTest("cosineSimilarity matches the reference and finite differences", async () => {
  const cases: [number[], number[], number][] = [
    [[4, 7], [4, 7], -1],
    [[3, 5, 2], [3, 5, 2], 1],
    [[3, 6], [1, 6], -1],
  ];
  for (const [sa, sb, axis] of cases) {
    await checkOp({
      inputs: [{ shape: sa }, { shape: sb }],
      gpu: ([a, b]) => ops.cosineSimilarity(a, b, axis),
      cpu: ([a, b]) => cpuCosine(a, b, axis, 1e-8),
    });
  }
});

gpuTest("cosineSimilarity of a zero vector is 0 with finite gradients", async () => {
  const { sim, ga } = tidy(() => {
    const a = tensor([0, 0, 0, 1, 2, 3], [2, 3]).requireGrad();
    const s = ops.cosineSimilarity(a, tensor([1, 2, 3, 1, 2, 3], [2, 3]));
    ops.sum(s).backward();
    return { sim: s.detach(), ga: a.grad!.detach() };
  });
  const [s, g] = [await sim.data(), await ga.data()];
  assert(s[0] === 0 && Math.abs(s[1] - 1) < 1e-6, `similarities ${s}`);
  assert(g.every(Number.isFinite), `gradient ${g}`);
  noGrad(() => [sim, ga].forEach((t: Tensor) => t.dispose()));
});
