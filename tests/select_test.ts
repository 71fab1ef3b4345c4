import { assert, assertEquals } from "./assert.ts";
import { assertClose, checkOp, cpuBinary, gpuTest, type HostTensor } from "./helpers.ts";
import { manualSeed, ops, rand, type Tensor, tensor, tidy } from "../mod.ts";

// where/maskedFill copy values, so the forward is exact (atol 0); their gradients are the output
// gradient masked and summed over broadcast dims (a few f32 terms), well inside the default
// gradient tolerance.

/** CPU reference of where over three broadcasting operands. */
function cpuWhere(cond: HostTensor, a: HostTensor, b: HostTensor): HostTensor {
  // Pair cond with a first to get the broadcast shape, then pick per element.
  const picked = cpuBinary(cond, a, (c, x) => (c !== 0 ? x : NaN));
  return cpuBinary(picked, b, (x, y) => (Number.isNaN(x) ? y : x));
}

function mask(shape: number[], seed: number): number[] {
  let s = seed;
  return Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 3 === 0 ? 1 : 0;
  });
}

gpuTest("where forward and masked gradients, with broadcasting of all three operands", async () => {
  const cases: [number[], number[], number[]][] = [
    [[3, 5], [3, 5], [3, 5]],
    [[4, 1], [1, 7], [4, 7]],
    [[2, 3, 5], [5], [3, 1]],
    [[7], [2, 3, 7], [1]],
  ];
  for (const [cs, as, bs] of cases) {
    const values = mask(cs, cs.length + as.length);
    await checkOp({
      inputs: [{ shape: cs, values, grad: false }, { shape: as }, { shape: bs }],
      gpu: ([c, a, b]) => ops.where(c, a, b),
      cpu: ([c, a, b]) => cpuWhere(c, a, b),
      atol: 0,
      rtol: 0,
    });
  }
});

gpuTest("where with number branches", async () => {
  const values = mask([4, 3], 5);
  await checkOp({
    inputs: [{ shape: [4, 3], values, grad: false }, { shape: [3] }],
    gpu: ([c, a]) => ops.add(ops.where(c, a, -1.5), ops.where(c, 2, a)),
    cpu: ([c, a]) => {
      const left = cpuWhere(c, a, { shape: [], values: Float64Array.of(-1.5) });
      const right = cpuWhere(c, { shape: [], values: Float64Array.of(2) }, a);
      return cpuBinary(left, right, (x, y) => x + y);
    },
    // The add rounds to f32: relative error ≤ 2⁻²⁴ ≈ 6e-8.
    atol: 0,
    rtol: 1e-7,
  });
});

gpuTest("maskedFill writes the value where the mask is 1 and blocks its gradient", async () => {
  const values = mask([2, 1, 5], 11);
  await checkOp({
    inputs: [{ shape: [2, 3, 5] }, { shape: [2, 1, 5], values, grad: false }],
    gpu: ([x, m]) => ops.maskedFill(x, m, 0.25),
    cpu: ([x, m]) => cpuBinary(x, m, (v, c) => (c !== 0 ? 0.25 : v)),
    atol: 0,
    rtol: 0,
  });
});

gpuTest("maskedFill with -Infinity keeps finite gradients", async () => {
  const x = tensor([1, 2, 3, 4], [2, 2]).requireGrad();
  const m = tensor([0, 1, 0, 0], [1, 4]).reshape([2, 2]);
  const y = tidy(() => {
    const filled = ops.maskedFill(x, m, -Infinity);
    ops.sum(ops.exp(filled)).backward();
    return filled;
  });
  assertEquals(Array.from(await y.data()), [1, -Infinity, 3, 4]);
  assertClose(await x.grad!.data(), [Math.E, 0, Math.exp(3), Math.exp(4)], 1e-5, 1e-6, "grad");
  for (const t of [x, m, y]) t.dispose();
});

async function dropped(t: Tensor): Promise<boolean[]> {
  return Array.from(await t.data(), (v) => v === 0);
}

gpuTest("dropout: the same seed gives the same output, another seed another mask", async () => {
  const x = rand([1000], { low: 1, high: 2, seed: 3 });
  const [a, b, c] = [
    ops.dropout(x, 0.3, { seed: 42 }),
    ops.dropout(x, 0.3, { seed: 42 }),
    ops
      .dropout(x, 0.3, { seed: 43 }),
  ];
  assertEquals(Array.from(await a.data()), Array.from(await b.data()));
  const ma = await dropped(a), mc = await dropped(c);
  // Independent masks agree on a fraction p² + (1−p)² = 0.58 of elements (std ≈ 0.016 at n=1000).
  const agree = ma.filter((v, i) => v === mc[i]).length / ma.length;
  assert(Math.abs(agree - 0.58) < 0.08, `seeds 42 and 43 agree on ${agree} of the mask`);
  for (const t of [x, a, b, c]) t.dispose();
});

gpuTest("dropout drops a fraction near p and scales the rest by 1/(1-p)", async () => {
  const n = 10_000;
  for (const p of [0.1, 0.5, 0.9]) {
    const x = tensor(new Float32Array(n).fill(1), [n]);
    const y = ops.dropout(x, p, { seed: 7 });
    const values = await y.data();
    const zerosCount = values.filter((v) => v === 0).length;
    // Binomial(n, p): std = √(n p (1−p)) ≤ 50; 5 std makes a false failure ~1e-6 likely.
    const std = Math.sqrt(n * p * (1 - p));
    assert(Math.abs(zerosCount - n * p) < 5 * std, `p=${p}: ${zerosCount} zeros of ${n}`);
    const scale = Math.fround(1 / (1 - p));
    assert(values.every((v) => v === 0 || v === scale), `p=${p}: kept values must equal ${scale}`);
    x.dispose();
    y.dispose();
  }
});

gpuTest("dropout backward uses the forward mask", async () => {
  const p = 0.4, n = 777;
  const x = rand([n], { low: 1, high: 2, seed: 5 }).requireGrad();
  const w = rand([n], { low: -1, high: 1, seed: 6 });
  const y = tidy(() => {
    const out = ops.dropout(x, p, { seed: 99 });
    ops.sum(ops.mul(out, w)).backward();
    return out;
  });
  const kept = Array.from(await y.data(), (v) => (v !== 0 ? 1 : 0));
  assert(kept.some((k) => k === 0) && kept.some((k) => k === 1), "mask must be mixed");
  const wv = await w.data();
  const expected = kept.map((k, i) => k * wv[i] / (1 - p));
  // One f32 multiply by the f32-rounded scale: relative error ≤ 2 · 2⁻²⁴.
  assertClose(await x.grad!.data(), expected, 0, 3e-7, "dropout grad");
  for (const t of [x, w, y]) t.dispose();
});

gpuTest("dropout is the identity in eval mode and for p = 0; p = 1 drops all", async () => {
  const x = rand([50], { seed: 1 });
  const xs = Array.from(await x.data());
  for (const y of [ops.dropout(x, 0.5, { training: false }), ops.dropout(x, 0)]) {
    assertEquals(Array.from(await y.data()), xs);
    y.dispose();
  }
  const all = ops.dropout(x, 1, { seed: 3 });
  assert(Array.from(await all.data()).every((v) => v === 0), "p = 1 must zero everything");
  all.dispose();
  x.dispose();
});

gpuTest("dropout without a seed draws one from the global stream", async () => {
  const x = tensor(new Float32Array(500).fill(1), [500]);
  manualSeed(2024);
  const first = ops.dropout(x, 0.5);
  const second = ops.dropout(x, 0.5);
  manualSeed(2024);
  const again = ops.dropout(x, 0.5);
  const [m1, m2, m3] = [await dropped(first), await dropped(second), await dropped(again)];
  assertEquals(m3, m1, "manualSeed must replay the mask");
  assert(m1.some((v, i) => v !== m2[i]), "successive calls must differ");
  for (const t of [x, first, second, again]) t.dispose();
});
