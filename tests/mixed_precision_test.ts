/**
 * Mixed precision: autocast matmuls (f16 operands, f32 sums) against f64 references of the
 * f16-rounded operands, the f32 fallback without `shader-f16`, the dynamic loss scale of
 * `optim.GradScaler`, and a tiny MLP trained both ways.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { assertClose, cpuMatmul, hasWebGPU, type HostTensor, numel } from "./helpers.ts";
import { writeBuffer } from "../kernels/runtime.ts";
import {
  amp,
  counters,
  device,
  nn,
  noGrad,
  ops,
  optim,
  poolStats,
  Rng,
  type Tensor,
  tensor,
  tidy,
} from "../mod.ts";

/** Unit roundoff of f16 (11 significant bits) and of f32 (24). */
const U16 = 2 ** -11;
const U32 = 2 ** -24;

const hasF16 = hasWebGPU && device.info().f16;
if (hasWebGPU && !hasF16) {
  console.warn(
    "%cSKIPPING f16 tests: the adapter has no shader-f16 (the f32 fallback is still tested)",
    "color: yellow",
  );
}

/**
 * Deno.test for mixed-precision code: needs WebGPU (and `shader-f16` unless `f16: false`), resets
 * the precision switches afterwards, and fails when the test leaves a tensor undisposed.
 */
function ampTest(name: string, fn: () => Promise<void>, options: { f16?: boolean } = {}): void {
  Deno.test({
    name,
    ignore: !hasWebGPU || ((options.f16 ?? true) && !hasF16),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const before = poolStats();
      try {
        await fn();
      } finally {
        amp.setPrecision("f32");
        amp.disableF16Kernels(false);
      }
      const after = poolStats();
      assertEquals(
        [after.liveBuffers, after.liveBytes],
        [before.liveBuffers, before.liveBytes],
        "live buffers and bytes after the test (a tensor was not disposed)",
      );
    },
  });
}

const rng = new Rng(2026);

/** Random f32 values in [-2, 2), as f64. */
function randomHost(shape: number[]): HostTensor {
  const values = Float32Array.from({ length: numel(shape) }, () => rng.next() * 4 - 2);
  return { shape, values: Float64Array.from(values) };
}

function mapHost(h: HostTensor, f: (x: number) => number): HostTensor {
  return { shape: h.shape, values: h.values.map(f) };
}

/** Rounds to the nearest f16 (ties to even), as the packing kernels do. */
const toF16 = (h: HostTensor) => mapHost(h, Math.f16round);

function upload(h: HostTensor): Tensor {
  return tensor(Float32Array.from(h.values), h.shape);
}

async function bits(t: Tensor): Promise<number[]> {
  const d = await t.data();
  return Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Asserts |actual − expected| ≤ bound elementwise, naming the first failing index. */
function assertWithin(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: ArrayLike<number>,
  what: string,
): void {
  assertEquals(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= bound[i])) {
      throw new Error(
        `${what}: index ${i}: got ${actual[i]}, expected ${expected[i]} ± ${bound[i]}`,
      );
    }
  }
}

/** [a shape, b shape, transA, transB]: none of M, N, K is a multiple of a tile (4, 8 or 16). */
type MatmulCase = [number[], number[], boolean, boolean];
const FORWARD_CASES: MatmulCase[] = [
  [[1, 1], [1, 1], false, false],
  [[7, 13], [13, 5], false, false],
  [[6, 5], [6, 7], true, false],
  [[5, 6], [7, 6], false, true],
  [[6, 5], [7, 6], true, true],
  [[9, 41], [41, 131], false, false], // N spans more than one workgroup on every tile
  [[65, 129], [129, 67], false, false],
  [[3, 5, 6], [3, 6, 7], false, false], // batched
  [[2, 3, 5], [7, 5], false, true], // a shared weight: the batch folds into M
  [[4, 5], [3, 5, 6], false, false], // A broadcast over B's batch
  [[2, 33, 17], [19, 33], true, true], // batched, both transposed
];

// Forward tolerance. The packing kernels round each operand to the nearest f16 (ties to even, as
// Math.f16round), so the reference takes the same f16 values â, b̂ and works in f64. A product of
// two f16 values has at most 22 significant bits, so it is exact in f32: the only error left is the
// f32 summation, at most K·2⁻²⁴·Σₖ|âₖ·b̂ₖ| for a sum of K terms (one rounding per fma, each at most
// 2⁻²⁴ of a partial sum bounded by Σ|â·b̂|). The bound is per element, with Σ|â·b̂| computed by the
// same reference on |â|, |b̂|. One operand rounded otherwise (truncated, as lavapipe's rgba16float
// stores do, or not rounded at all) moves its term by up to 2⁻¹¹ of it, far outside this bound for
// the small-K cases; the second check catches the rest: the f16 result must sit much closer to the
// f16-operand reference than to the f32-operand one.
ampTest(
  "autocast matmul matches an f64 reference of f16-rounded operands (2-D, batched, transposed, odd sizes)",
  async () => {
    for (const [aShape, bShape, transA, transB] of FORWARD_CASES) {
      const what = `[${aShape}]${transA ? "ᵀ" : ""} @ [${bShape}]${transB ? "ᵀ" : ""}`;
      const a = randomHost(aShape), b = randomHost(bShape);
      const a16 = toF16(a), b16 = toF16(b);
      const ref16 = cpuMatmul(a16, b16, transA, transB);
      const ref32 = cpuMatmul(a, b, transA, transB);
      const absSum = cpuMatmul(mapHost(a16, Math.abs), mapHost(b16, Math.abs), transA, transB);
      const K = transA ? aShape.at(-2)! : aShape.at(-1)!;
      const bound = absSum.values.map((s) => K * U32 * s);
      const options = { transA, transB };
      const [before, mixed, after] = tidy(() => {
        const at = upload(a), bt = upload(b);
        const before = ops.matmul(at, bt, options);
        const mixed = amp.autocast(() => ops.matmul(at, bt, options));
        const after = ops.matmul(at, bt, options);
        return [before, mixed, after];
      });
      assertEquals(mixed.shape, ref16.shape, `${what}: shape`);
      const out = await mixed.data();
      assertWithin(out, ref16.values, bound, `${what} under autocast`);
      const toF16Ref = maxAbsDiff(out, ref16.values);
      const toF32Ref = maxAbsDiff(out, ref32.values);
      assert(
        toF32Ref > 4 * toF16Ref,
        `${what}: the operands were not rounded to f16 (off by ${toF16Ref} from the f16 ` +
          `reference, ${toF32Ref} from the f32 one)`,
      );
      const f32Bits = await bits(before);
      assertEquals(await bits(after), f32Bits, `${what}: f32 again after autocast`);
      const mixedBits = await bits(mixed);
      assert(f32Bits.some((x, i) => x !== mixedBits[i]), `${what}: f32 and f16 paths differ`);
      for (const t of [before, mixed, after]) t.dispose();
    }
  },
);

ampTest(
  "setPrecision('mixed') switches every matmul, and autocast nests and restores after a throw",
  async () => {
    const a = upload(randomHost([5, 9])), b = upload(randomHost([9, 6]));
    const scoped = amp.autocast(() => ops.matmul(a, b));
    assertEquals(amp.precision(), "f32");
    amp.autocast(() => {
      amp.autocast(() => assertEquals(amp.precision(), "mixed"));
      assertEquals(amp.precision(), "mixed", "after a nested scope");
    });
    assertThrows(() =>
      amp.autocast(() => {
        throw new Error("boom");
      }), "boom");
    assertEquals(amp.precision(), "f32", "after a scope that threw");
    const pending = amp.autocast(() => Promise.resolve(amp.precision()));
    assertEquals(amp.precision(), "mixed", "an async scope keeps the mode until it settles");
    assertEquals(await pending, "mixed");
    assertEquals(amp.precision(), "f32", "after the async scope settled");
    amp.setPrecision("mixed");
    assertEquals(amp.precision(), "mixed");
    const global = ops.matmul(a, b);
    amp.setPrecision("f32");
    const plain = ops.matmul(a, b);
    assertEquals(await bits(global), await bits(scoped), "global mixed = autocast");
    const scopedBits = await bits(scoped);
    assert(
      (await bits(plain)).some((x, i) => x !== scopedBits[i]),
      "f32 after setPrecision('f32')",
    );
    assertThrows(() => amp.setPrecision("f16" as amp.Precision), "expected");
    for (const t of [a, b, scoped, global, plain]) t.dispose();
  },
);

/** Forward output and the gradients of Σ(op(A)·op(B) ∘ W) with respect to A and B. */
async function matmulAndGrads(
  a: HostTensor,
  b: HostTensor,
  w: HostTensor,
  [, , transA, transB]: MatmulCase,
  mode: "f32" | "backward inside autocast" | "backward after autocast",
): Promise<{ out: Float32Array; gradA: Float32Array; gradB: Float32Array }> {
  const at = upload(a).requireGrad(), bt = upload(b).requireGrad();
  const out = tidy(() => {
    const forward = () => {
      const y = ops.matmul(at, bt, { transA, transB });
      return [y, ops.sum(ops.mul(y, upload(w)))];
    };
    if (mode === "f32") {
      const [y, loss] = forward();
      loss.backward();
      return y;
    }
    if (mode === "backward inside autocast") {
      return amp.autocast(() => {
        const [y, loss] = forward();
        loss.backward();
        return y;
      });
    }
    const [y, loss] = amp.autocast(forward);
    loss.backward();
    return y;
  });
  const result = {
    out: await out.data() as Float32Array,
    gradA: await at.grad!.data() as Float32Array,
    gradB: await bt.grad!.data() as Float32Array,
  };
  for (const t of [out, at, bt]) t.dispose();
  return result;
}

const GRAD_CASES: MatmulCase[] = [
  [[7, 13], [13, 5], false, false],
  [[6, 5], [7, 6], true, true],
  [[5, 6], [7, 6], false, true],
  [[3, 6, 5], [3, 6, 7], true, false],
  [[2, 3, 5], [7, 5], false, true], // shared weight: dW contracts over all rows at once
  [[4, 5], [3, 5, 6], false, false], // dA sums over B's batch
];

// Gradient tolerance. Under autocast each backward product rounds both of its operands (the
// upstream gradient W and the other input) to f16: a term w·b becomes ŵ·b̂ with
// |ŵ·b̂ − w·b| ≤ (2·2⁻¹¹ + 2⁻²²)·|w·b|. Both paths then sum in f32, each within T·2⁻²⁴·Σ|w·b| for T
// terms (T ≤ the output's size here, batches included). So per element
// |g_mixed − g_f32| ≤ (2⁻¹⁰ + 2⁻²² + 3·T·2⁻²⁴)·Σ|w·b|, where Σ|w·b| is the same gradient computed
// in f32 from |A|, |B|, |W| (the third T·2⁻²⁴ covers that computation's own rounding).
ampTest(
  "gradients under autocast match the f32 gradients, also when backward() runs after the scope",
  async () => {
    for (const c of GRAD_CASES) {
      const [aShape, bShape, transA, transB] = c;
      const what = `[${aShape}]${transA ? "ᵀ" : ""} @ [${bShape}]${transB ? "ᵀ" : ""}`;
      const a = randomHost(aShape), b = randomHost(bShape);
      const outShape = cpuMatmul(a, b, transA, transB).shape;
      const w = mapHost(randomHost(outShape), (x) => x / 2);
      const f32 = await matmulAndGrads(a, b, w, c, "f32");
      const inside = await matmulAndGrads(a, b, w, c, "backward inside autocast");
      const after = await matmulAndGrads(a, b, w, c, "backward after autocast");
      const abs = (h: HostTensor) => mapHost(h, Math.abs);
      const magnitude = await matmulAndGrads(abs(a), abs(b), abs(w), c, "f32");
      const rel = 2 * U16 + U16 ** 2 + 3 * numel(outShape) * U32;
      for (const key of ["gradA", "gradB"] as const) {
        assertWithin(
          inside[key],
          f32[key],
          magnitude[key].map((s) => rel * s),
          `${what}: ${key} under autocast vs f32`,
        );
        assert(
          inside[key].some((x, i) => x !== f32[key][i]),
          `${what}: ${key} under autocast must come from the f16 path`,
        );
        assertEquals(
          Array.from(after[key]),
          Array.from(inside[key]),
          `${what}: ${key}, backward after the scope keeps the forward's precision`,
        );
      }
    }
  },
);

ampTest(
  "without shader-f16 autocast runs matmuls (forward and backward) in f32 and warns once",
  async () => {
    // On an adapter with shader-f16, disableF16Kernels simulates one without it.
    if (hasF16) amp.disableF16Kernels(true);
    const c: MatmulCase = [[2, 3, 5], [7, 5], false, true];
    const a = randomHost(c[0]), b = randomHost(c[1]), w = randomHost([2, 3, 7]);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
    let f32, fallback;
    try {
      f32 = await matmulAndGrads(a, b, w, c, "f32");
      fallback = await matmulAndGrads(a, b, w, c, "backward inside autocast");
      await matmulAndGrads(a, b, w, c, "backward after autocast");
      assertEquals(warnings.length, 1, "one warning for many matmuls");
      assert(warnings[0].includes("shader-f16"), `the warning names the feature: ${warnings[0]}`);
      amp.disableF16Kernels(true);
      await matmulAndGrads(a, b, w, c, "backward inside autocast");
      assertEquals(warnings.length, 2, "disableF16Kernels re-arms the warning");
    } finally {
      console.warn = warn;
    }
    for (const key of ["out", "gradA", "gradB"] as const) {
      assertEquals(Array.from(fallback[key]), Array.from(f32[key]), `${key}: the f32 path`);
    }
  },
  { f16: false },
);

ampTest(
  "autocast rounds either operand to the nearest f16: ties to even, subnormals, overflow to ±inf",
  async () => {
    const values = [
      1.7, // between two f16 values: the nearer one, 1.7001953125 (truncation gives 1.69921875)
      1 + 2 ** -11, // a tie between 1 and 1 + 2⁻¹⁰: to even, 1
      1 + 3 * 2 ** -11, // a tie: to even, 1 + 2⁻⁹
      -1000.3,
      3e-5, // f16 subnormals keep their 2⁻²⁴ steps
      1e-8, // below half the smallest subnormal: 0
      65519, // rounds down to 65504, f16's largest finite value
      65520, // rounds past it: inf, so that a loss-scale overflow is seen
      -1e5,
      NaN,
    ];
    const expected = values.map((v) => Math.f16round(v));
    const [asA, asB] = tidy(() => {
      const column = tensor(values, [values.length, 1]);
      const one = tensor([1], [1, 1]);
      return amp.autocast(() => [
        ops.matmul(column, one), // A packed into vec4<f16>
        ops.matmul(one, column, { transB: true }), // B packed into an rgba16float texture
      ]);
    });
    assertEquals(Array.from(await asA.data()), expected, "A operand");
    assertEquals(Array.from(await asB.data()), expected, "B operand");
    asA.dispose();
    asB.dispose();
  },
);

/** Gradient of Σ(p ∘ c) × the scale: backward of a scaled loss whose true gradient is c. */
function scaledBackward(scaler: optim.GradScaler, p: Tensor, c: Tensor): void {
  tidy(() => scaler.scale(ops.sum(ops.mul(p, c))).backward());
}

function setGradAt(p: Tensor, index: number, value: number): void {
  writeBuffer(p.grad!.buffer, Float32Array.of(value), index * 4);
}

ampTest(
  "GradScaler.scale multiplies the loss by the scale, and step unscales before the update",
  async () => {
    const defaults = new optim.GradScaler();
    assertEquals(
      [await defaults.getScale(), defaults.growthFactor, defaults.backoffFactor],
      [2 ** 16, 2, 0.5],
    );
    assertEquals(defaults.growthInterval, 2000);
    defaults.dispose();
    // A power-of-two scale is exact both ways; 3000 is not, so the unscaled gradient may be off by
    // a rounding of the product and of 1/3000 (≤ 3·2⁻²⁴ relative).
    for (const initScale of [1024, 3000]) {
      const host = Float32Array.from({ length: 7 }, () => rng.next() * 2 - 1);
      const c = Float32Array.from({ length: 7 }, () => rng.next() * 2 - 1);
      const p = tensor(host, [7]).requireGrad();
      const ct = tensor(c, [7]);
      const opt = new optim.SGD([p], { lr: 0.5 });
      const scaler = new optim.GradScaler({ initScale, growthInterval: 100 });
      const [loss, scaled] = tidy(() => {
        const loss = ops.sum(ops.mul(p, ct));
        const scaled = scaler.scale(loss);
        scaled.backward();
        return [loss, scaled];
      });
      assertEquals(
        await scaled.item(),
        Math.fround((await loss.item()) * initScale),
        "scaled loss",
      );
      assertClose(await p.grad!.data(), c.map((g) => g * initScale), 0, 2 * U32, "scaled grad");
      const syncs = counters.syncs;
      scaler.step(opt);
      assertEquals(counters.syncs, syncs, "unscale, update and scale adaptation need no sync");
      assertClose(await p.grad!.data(), c, 0, 3 * U32, "the gradient is unscaled in place");
      assertClose(await p.data(), host.map((x, i) => x - 0.5 * c[i]), 1e-7, 1e-6, "param");
      assertEquals(await scaler.state(), { scale: initScale, growthTracker: 1 });
      opt.zeroGrad();
      for (const t of [loss, scaled, p, ct]) t.dispose();
      opt.dispose();
      scaler.dispose();
    }
    // Disabled: the loss passes through and step is the optimizer's.
    const p = tensor([1, 2], [2]).requireGrad();
    const off = new optim.GradScaler({ enabled: false });
    const opt = new optim.SGD([p], { lr: 1 });
    tidy(() => {
      const loss = ops.sum(p);
      assert(off.scale(loss) === loss, "a disabled scaler returns the loss itself");
      loss.backward();
    });
    off.step(opt);
    assertEquals(Array.from(await p.data()), [0, 1]);
    opt.dispose();
    off.dispose();
    p.dispose();
  },
  { f16: false },
);

ampTest(
  "GradScaler.unscale before clipping: clipGradNorm sees the true gradients; scaled ones are refused",
  async () => {
    const host = Float32Array.from({ length: 5 }, () => rng.next() * 2 - 1);
    const c = Float32Array.from([3, -4, 0, 12, 0]); // norm 13
    const p = tensor(host, [5]).requireGrad();
    const ct = tensor(c, [5]);
    const opt = new optim.SGD([p], { lr: 0.1 });
    const scaler = new optim.GradScaler({ initScale: 256 });
    scaledBackward(scaler, p, ct);
    const scaledNorm = optim.gradNorm([p]);
    assertThrows(() => scaler.step(opt, { gradNorm: scaledNorm }), "still scaled");
    scaledNorm.dispose();
    scaler.unscale(opt);
    scaler.unscale(opt); // at most once per step: a second call does nothing
    const norm = optim.clipGradNorm([p], 1);
    assertClose([await norm.item()], [13], 0, 1e-6, "the norm of the unscaled gradients");
    scaler.step(opt, { gradNorm: norm });
    const clipped = c.map((g) => g / (13 + 1e-6));
    assertClose(await p.data(), host.map((x, i) => x - 0.1 * clipped[i]), 1e-7, 1e-6, "param");
    assertEquals(await scaler.state(), { scale: 256, growthTracker: 1 });
    norm.dispose();
    opt.dispose();
    scaler.dispose();
    for (const t of [p, ct]) t.dispose();
  },
  { f16: false },
);

ampTest(
  "a non-finite gradient skips the step: params and AdamW state bit-identical, scale backs off",
  async () => {
    const params = [[4, 3], [5]].map((shape) =>
      upload(mapHost(randomHost(shape), (x) => x / 2)).requireGrad()
    );
    const cs = params.map((p) => upload(randomHost([...p.shape])));
    const opt = new optim.AdamW(params, { lr: 0.01, weightDecay: 0.1 });
    const scaler = new optim.GradScaler({ initScale: 4096, backoffFactor: 0.25 });
    const backward = () => params.forEach((p, i) => scaledBackward(scaler, p, cs[i]));
    backward();
    scaler.step(opt);
    opt.zeroGrad();
    let scale = 4096;
    for (const bad of [Infinity, NaN, -Infinity]) {
      const before = await Promise.all(params.map(bits));
      const stateBefore = JSON.stringify((await opt.exportState()).state.map(Object.values));
      backward();
      setGradAt(params[1], 2, bad);
      const syncs = counters.syncs;
      scaler.step(opt);
      assertEquals(counters.syncs, syncs, "the guard and the backoff need no sync");
      for (let i = 0; i < params.length; i++) {
        assertEquals(await bits(params[i]), before[i], `param ${i} after a ${bad} gradient`);
      }
      const stateAfter = JSON.stringify((await opt.exportState()).state.map(Object.values));
      assert(stateAfter === stateBefore, `AdamW's m and v after a ${bad} gradient`);
      scale *= 0.25;
      assertEquals(await scaler.state(), { scale, growthTracker: 0 }, `after a ${bad} gradient`);
      opt.zeroGrad();
    }
    assertEquals([await opt.appliedSteps(), await opt.skippedSteps()], [1, 3]);
    // The next finite step applies, unscaled by the backed-off scale.
    const before = await Promise.all(params.map(bits));
    backward();
    assertClose(
      await params[0].grad!.data(),
      (await cs[0].data()).map((g) => g * scale),
      0,
      0,
      "grad",
    );
    scaler.step(opt);
    assert((await bits(params[0])).some((x, i) => x !== before[0][i]), "a finite step moves");
    assertEquals(await scaler.state(), { scale, growthTracker: 1 });
    assertEquals(await opt.appliedSteps(), 2);
    opt.zeroGrad();
    opt.dispose();
    scaler.dispose();
    for (const t of [...params, ...cs]) t.dispose();
  },
  { f16: false },
);

ampTest(
  "the scale grows by growthFactor after growthInterval finite steps in a row, never to infinity",
  async () => {
    const p = tensor([0.5, -0.25, 1], [3]).requireGrad();
    const c = tensor([0.5, 1, -0.75], [3]);
    const opt = new optim.SGD([p], { lr: 0 });
    const scaler = new optim.GradScaler({ initScale: 4, growthFactor: 3, growthInterval: 3 });
    // A non-finite step resets the run: growth needs 3 finite steps after it.
    const steps: [boolean, number, number][] = [
      [true, 4, 1],
      [true, 4, 2],
      [true, 12, 0],
      [true, 12, 1],
      [false, 6, 0],
      [true, 6, 1],
      [true, 6, 2],
      [true, 18, 0],
    ];
    for (const [k, [finite, scale, growthTracker]] of steps.entries()) {
      scaledBackward(scaler, p, c);
      if (!finite) setGradAt(p, 0, NaN);
      scaler.step(opt);
      opt.zeroGrad();
      assertEquals(await scaler.state(), { scale, growthTracker }, `after step ${k + 1}`);
    }
    scaler.dispose();
    // At 2¹²⁷ another growth would overflow f32: the scale stays finite (and can still back off).
    const top = new optim.GradScaler({ initScale: 2 ** 127, growthInterval: 1 });
    for (let k = 0; k < 2; k++) {
      scaledBackward(top, p, c);
      top.step(opt);
      opt.zeroGrad();
      assertEquals(await top.state(), { scale: 2 ** 127, growthTracker: 0 }, "at the ceiling");
    }
    top.loadState({ scale: 512, growthTracker: 0 });
    assertEquals(await top.getScale(), 512, "loadState");
    top.dispose();
    opt.dispose();
    for (const t of [p, c]) t.dispose();
  },
  { f16: false },
);

ampTest(
  "an f16 overflow under autocast is caught: the step is skipped, and the retry at half scale is exact",
  async () => {
    // dW = xᵀ·g with g = the scale: 2¹⁶ rounds past f16's range (inf), 2¹⁵ is exact, and so are
    // x, the products and the unscaling (powers of two), so the retried step equals the f32 one.
    const x = tensor([[300, -200, 7]].flat(), [1, 3]);
    const w = tensor([0.5, 0.25, -1], [3, 1]).requireGrad();
    const opt = new optim.SGD([w], { lr: 1e-3 });
    const scaler = new optim.GradScaler();
    const before = await bits(w);
    const step = () => {
      tidy(() => scaler.scale(amp.autocast(() => ops.sum(ops.matmul(x, w)))).backward());
      scaler.step(opt);
      opt.zeroGrad();
    };
    step();
    assertEquals(await bits(w), before, "an overflowing step leaves the weights bit-identical");
    assertEquals(await scaler.state(), { scale: 2 ** 15, growthTracker: 0 });
    step();
    const expected = [0.5 - 1e-3 * 300, 0.25 + 1e-3 * 200, -1 - 1e-3 * 7];
    assertClose(await w.data(), expected, 0, 2 * U32, "the retried step");
    assertEquals([await opt.appliedSteps(), await opt.skippedSteps()], [1, 1]);
    opt.dispose();
    scaler.dispose();
    for (const t of [x, w]) t.dispose();
  },
);

ampTest(
  "GradScaler rejects bad options and bad states",
  () => {
    assertThrows(() => new optim.GradScaler({ initScale: 0 }), "initScale");
    assertThrows(() => new optim.GradScaler({ initScale: Infinity }), "initScale");
    assertThrows(() => new optim.GradScaler({ growthFactor: 1 }), "growthFactor");
    assertThrows(() => new optim.GradScaler({ backoffFactor: 1 }), "backoffFactor");
    assertThrows(() => new optim.GradScaler({ growthInterval: 1.5 }), "growthInterval");
    const scaler = new optim.GradScaler();
    assertThrows(() => scaler.loadState({ scale: NaN, growthTracker: 0 }), "bad scale");
    scaler.dispose();
    return Promise.resolve();
  },
  { f16: false },
);

ampTest(
  "GradScaler.unscale reaches every gradient of a 40-parameter model, one past the grid included",
  async () => {
    // 40 gradients need two dispatches of the unscale kernel (32 per dispatch at most), and 2²⁰ + 5
    // elements is more than its 4096 workgroups of 256 cover in one pass.
    const sizes = Array.from({ length: 40 }, (_, i) => (i === 17 ? 2 ** 20 + 5 : 3 + 11 * i));
    const params = sizes.map((n) => tensor(new Float32Array(n), [n]).requireGrad());
    const grads = sizes.map((n) => Float32Array.from({ length: n }, (_, j) => ((j % 13) - 6) / 8));
    const scaler = new optim.GradScaler({ initScale: 512 });
    params.forEach((p, i) => (p.grad = tensor(grads[i].map((g) => g * 512), p.shape)));
    const opt = new optim.SGD(params, { lr: 1 });
    scaler.unscale(opt);
    for (let i = 0; i < params.length; i++) {
      const expected = Array.from(new Uint32Array(grads[i].buffer));
      assertEquals(await bits(params[i].grad!), expected, `gradient ${i} divided by 512`);
    }
    opt.zeroGrad();
    opt.dispose();
    scaler.dispose();
    for (const p of params) p.dispose();
  },
  { f16: false },
);

/** Points in [-1, 1]² labelled by the sign of x·y (as in training_loop_test.ts). */
function quadrants(data: Rng, n: number): { x: Tensor; y: Tensor } {
  const xs = new Float32Array(2 * n);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = data.next() * 2 - 1, b = data.next() * 2 - 1;
    xs.set([a, b], 2 * i);
    ys[i] = a * b > 0 ? 1 : 0;
  }
  return { x: tensor(xs, [n, 2]), y: tensor(ys, [n], "i32") };
}

class TinyMlp extends nn.Module {
  readonly l1 = this.child("l1", new nn.Linear(2, 32, { seed: 1 }));
  readonly l2 = this.child("l2", new nn.Linear(32, 32, { seed: 2 }));
  readonly l3 = this.child("l3", new nn.Linear(32, 2, { seed: 3 }));
  forward(x: Tensor): Tensor {
    return this.l3.forward(ops.gelu(this.l2.forward(ops.gelu(this.l1.forward(x)))));
  }
}

const MLP_STEPS = 40;

/** Trains the MLP on the same batches in f32 or under autocast + GradScaler; one code path. */
async function trainMlp(mixed: boolean) {
  const model = new TinyMlp();
  const opt = new optim.SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
  const scaler = new optim.GradScaler({ enabled: mixed });
  const data = new Rng(5);
  const losses: number[] = [];
  let atStep10 = poolStats();
  for (let step = 1; step <= MLP_STEPS; step++) {
    const batch = quadrants(data, 64);
    const loss = tidy(() => {
      const lossOf = () => ops.crossEntropy(model.forward(batch.x), batch.y);
      const loss = mixed ? amp.autocast(lossOf) : lossOf();
      scaler.scale(loss).backward();
      scaler.unscale(opt);
      const norm = optim.clipGradNorm(model.parameters(), 1);
      scaler.step(opt, { gradNorm: norm });
      opt.zeroGrad();
      return loss;
    });
    losses.push(await loss.item());
    for (const t of [loss, batch.x, batch.y]) t.dispose();
    if (step === 10) atStep10 = poolStats();
  }
  const atEnd = poolStats();
  const test = quadrants(new Rng(77), 512);
  const evalLoss = tidy(() => noGrad(() => ops.crossEntropy(model.forward(test.x), test.y)));
  const result = {
    losses,
    evalLoss: await evalLoss.item(),
    scale: await scaler.getScale(),
    skipped: await opt.skippedSteps(),
    atStep10,
    atEnd,
  };
  for (const t of [evalLoss, test.x, test.y]) t.dispose();
  opt.dispose();
  scaler.dispose();
  model.dispose();
  return result;
}

// End-to-end tolerance. Autocast changes each matmul by at most ~2⁻¹⁰ relative (both operands
// rounded to f16; sums in f32), so a step's loss moves by ~1e-3 of its value and the updates by as
// little; over 40 steps of SGD on the same batches the two runs stay within ~1e-4 of each other in
// loss (measured on lavapipe). 0.01, per step and on a held-out set, leaves ~100× margin yet is
// ~2 % of what the run learns (0.67 → 0.21), and a scaler that did not unscale (gradients 2¹⁶× too
// large, hence always clipped to norm 1) drifts off by more than 0.1 within a few steps. The true
// gradient norm stays below 1 here, so clipping is a no-op in the f32 run. A mean loss over 64
// examples gives logit gradients ≤ 1/64, × 2¹⁶ ≈ 1024: far from f16's 65504 through 32-wide layers
// with weights ≤ 1/√32, so no step may overflow and the scale stays at its initial 2¹⁶.
ampTest(
  "a tiny MLP trained under autocast + GradScaler reaches the loss of the f32 run, memory flat",
  async () => {
    const f32 = await trainMlp(false);
    const mixed = await trainMlp(true);
    assert(mixed.losses.every(Number.isFinite), `non-finite losses: ${mixed.losses}`);
    assertEquals([mixed.skipped, mixed.scale], [0, 2 ** 16], "skipped steps and final scale");
    assertClose(mixed.losses, f32.losses, 0.01, 0, "per-step loss, mixed vs f32");
    assertClose([mixed.evalLoss], [f32.evalLoss], 0.01, 0, "held-out loss, mixed vs f32");
    assert(mixed.evalLoss < 0.4, `the mixed run learns: held-out loss ${mixed.evalLoss}`);
    for (const [name, run] of [["f32", f32], ["mixed", mixed]] as const) {
      const { atStep10: a, atEnd: b } = run;
      assertEquals(
        [b.liveBuffers, b.liveBytes, b.createdBuffers],
        [a.liveBuffers, a.liveBytes, a.createdBuffers],
        `${name} run: live buffers, live bytes and created buffers from step 10 to ${MLP_STEPS}`,
      );
    }
  },
);
