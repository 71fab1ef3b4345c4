import { assert, assertEquals, assertThrows } from "./assert.ts";
import { assertClose, gpuTest } from "./helpers.ts";
import { counters, ops, optim, type Tensor, tensor, tidy } from "../mod.ts";
import { Rng } from "../core/random.ts";
import { copyBuffer } from "../kernels/runtime.ts";

// Tolerances: the GPU updates in f32 (≈6e-8 relative per operation, a dozen operations per step,
// three steps) and computes the bias corrections in f32, while the references run in f64. With
// parameters and gradients of order 1 and lr ≤ 0.1 the accumulated error stays below 1e-6, so
// 2e-6 absolute + 1e-5 relative leaves margin while still catching a wrong formula (a missing bias
// correction changes the first AdamW step by ~lr·(1 − √(1−β₂)/(1−β₁)), far above these bounds).
const ATOL = 2e-6;
const RTOL = 1e-5;

const rng = new Rng(77);
function randomValues(n: number, scale = 1): Float64Array {
  return Float64Array.from(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale));
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** f64 reference of torch.optim.AdamW for one parameter. */
class CpuAdamW {
  m: Float64Array;
  v: Float64Array;
  t = 0;
  constructor(
    public p: Float64Array,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(g: Float64Array, lr: number, wd: number): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < g.length; i++) {
      this.p[i] *= 1 - lr * wd;
      this.m[i] = this.beta1 * this.m[i] + (1 - this.beta1) * g[i];
      this.v[i] = this.beta2 * this.v[i] + (1 - this.beta2) * g[i] * g[i];
      this.p[i] -= (lr / bc1) * this.m[i] / (Math.sqrt(this.v[i]) / Math.sqrt(bc2) + this.eps);
    }
  }
}

function setGrad(p: Tensor, values: Float64Array): void {
  p.grad?.dispose();
  p.grad = tensor(Float32Array.from(values), p.shape);
}

async function bits(t: Tensor): Promise<number[]> {
  const d = await t.data();
  return Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length));
}

gpuTest(
  "AdamW matches an f64 reference over 3 steps for 2 groups with different lr and decay",
  async () => {
    // [260, 260] is above the size at which a tensor gets a dispatch of its own.
    const shapes = [[3, 5], [7], [2, 2, 3], [1], [33], [260, 260]];
    const hostParams = shapes.map((s) => randomValues(size(s)));
    const params = shapes.map((s, i) => tensor(Float32Array.from(hostParams[i]), s).requireGrad());
    const groupA = { params: params.slice(0, 3), lr: 0.05, weightDecay: 0.1 };
    const groupB = { params: params.slice(3), lr: 0.01, weightDecay: 0 };
    const opt = new optim.AdamW(
      [groupA, { params: groupB.params, lr: groupB.lr, weightDecay: 0 }],
      {
        lr: 1,
      },
    );
    const refs = hostParams.map((p) => new CpuAdamW(Float64Array.from(p)));
    for (let step = 0; step < 3; step++) {
      params.forEach((p, i) => {
        const g = randomValues(p.size);
        setGrad(p, g);
        const group = i < 3 ? groupA : groupB;
        refs[i].step(g, group.lr, group.weightDecay);
      });
      opt.step();
      for (let i = 0; i < params.length; i++) {
        assertClose(await params[i].data(), refs[i].p, ATOL, RTOL, `step ${step + 1} param ${i}`);
      }
    }
    const snapshot = await opt.exportState();
    assertEquals(snapshot.appliedSteps, 3);
    snapshot.state.forEach((s, i) => {
      assertClose(s.m, refs[i].m, 1e-7, RTOL, `m of param ${i}`);
      assertClose(s.v, refs[i].v, 1e-8, RTOL, `v of param ${i}`);
    });
    opt.zeroGrad();
    assert(params.every((p) => p.grad === null), "zeroGrad disposes the gradients");
    opt.dispose();
    for (const p of params) p.dispose();
  },
);

gpuTest("a parameter in a group with lr 0 does not move (bit-identical)", async () => {
  const moving = tensor(Float32Array.from(randomValues(10)), [10]).requireGrad();
  const frozen = tensor(Float32Array.from(randomValues(6)), [2, 3]).requireGrad();
  const before = await bits(frozen);
  const movingBefore = await bits(moving);
  const opt = new optim.AdamW(
    [{ params: [moving] }, { params: [frozen], lr: 0, weightDecay: 0.5 }],
    { lr: 0.1 },
  );
  for (let i = 0; i < 2; i++) {
    setGrad(moving, randomValues(10));
    setGrad(frozen, randomValues(6));
    opt.step();
  }
  assertEquals(await bits(frozen), before);
  assert((await bits(moving)).some((b, i) => b !== movingBefore[i]), "the lr>0 group must move");
  opt.dispose();
  moving.dispose();
  frozen.dispose();
});

gpuTest("SGD with momentum and weight decay matches an f64 reference", async () => {
  const shapes = [[4, 3], [5]];
  const host = shapes.map((s) => randomValues(size(s)));
  const params = shapes.map((s, i) => tensor(Float32Array.from(host[i]), s).requireGrad());
  const lr = 0.1, mu = 0.9, wd = 0.01;
  const opt = new optim.SGD(params, { lr, momentum: mu, weightDecay: wd });
  const bufs = host.map((h) => new Float64Array(h.length));
  for (let step = 0; step < 3; step++) {
    params.forEach((p, k) => {
      const g = randomValues(p.size);
      setGrad(p, g);
      for (let i = 0; i < g.length; i++) {
        const gi = g[i] + wd * host[k][i];
        bufs[k][i] = mu * bufs[k][i] + gi;
        host[k][i] -= lr * bufs[k][i];
      }
    });
    opt.step();
  }
  for (let k = 0; k < params.length; k++) {
    assertClose(await params[k].data(), host[k], ATOL, RTOL, `param ${k}`);
  }
  const snapshot = await opt.exportState();
  snapshot.state.forEach((s, k) => assertClose(s.momentum, bufs[k], ATOL, RTOL, `buf ${k}`));
  opt.dispose();
  for (const p of params) p.dispose();
});

gpuTest("plain SGD (no momentum) keeps no state and follows p − lr·g", async () => {
  const host = randomValues(9);
  const p = tensor(Float32Array.from(host), [9]).requireGrad();
  const opt = new optim.SGD([p], { lr: 0.5 });
  const g = randomValues(9);
  setGrad(p, g);
  opt.step();
  assertClose(await p.data(), host.map((x, i) => x - 0.5 * g[i]), 1e-7, 1e-6, "param");
  assertEquals(Object.keys((await opt.exportState()).state[0]), []);
  opt.dispose();
  p.dispose();
});

gpuTest("clipGradNorm matches the CPU global norm and scales only when above maxNorm", async () => {
  // [300, 230] gets a dispatch of its own; the others share one.
  const shapes = [[5, 7], [3], [300], [300, 230]];
  const grads = shapes.map((s) => randomValues(size(s), 2));
  const params = shapes.map((s) => tensor(new Float32Array(size(s)), s).requireGrad());
  params.forEach((p, i) => setGrad(p, grads[i]));
  const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
  // Summation in f32 of ~69 000 positive terms, a few per invocation and then pairwise trees:
  // relative error of order log2(69 000)·6e-8 ≈ 1e-6, under 1e-5.
  const n1 = optim.clipGradNorm(params, norm / 4);
  assertClose([await n1.item()], [norm], 0, 1e-5, "norm");
  const scale = (norm / 4) / (norm + 1e-6);
  for (let i = 0; i < params.length; i++) {
    assertClose(await params[i].grad!.data(), grads[i].map((g) => g * scale), 1e-7, 1e-5, `g${i}`);
  }
  const before = await Promise.all(params.map((p) => bits(p.grad!)));
  const n2 = optim.clipGradNorm(params, norm);
  assertClose([await n2.item()], [norm / 4], 0, 1e-5, "norm after clipping");
  for (let i = 0; i < params.length; i++) {
    assertEquals(await bits(params[i].grad!), before[i], `grad ${i} below maxNorm is unchanged`);
  }
  n1.dispose();
  n2.dispose();
  for (const p of params) p.dispose();
});

gpuTest("gradients that share storage are clipped once each", async () => {
  const a = tensor([1, 2, 3], [3]).requireGrad();
  const b = tensor([4, 5, 6], [3]).requireGrad();
  tidy(() => ops.sum(ops.mul(ops.add(a, b), 2)).backward());
  const norm = optim.clipGradNorm([a, b], 1);
  const expected = 2 / (Math.sqrt(24) + 1e-6);
  assertClose([await norm.item()], [Math.sqrt(24)], 0, 1e-6, "norm");
  assertClose(await a.grad!.data(), [expected, expected, expected], 0, 1e-6, "a.grad");
  assertClose(await b.grad!.data(), [expected, expected, expected], 0, 1e-6, "b.grad");
  norm.dispose();
  a.dispose();
  b.dispose();
});

gpuTest(
  "a non-finite gradient skips the step with no sync: params bit-exact, grads zeroed, skip counted",
  async () => {
    const hostP = [randomValues(12), randomValues(5)];
    const params = hostP.map((h) => tensor(Float32Array.from(h), [h.length]).requireGrad());
    const refs = hostP.map((h) => new CpuAdamW(Float64Array.from(h)));
    const opt = new optim.AdamW(params, { lr: 0.02, weightDecay: 0.1 });
    const normal = () =>
      params.forEach((p, i) => {
        const g = randomValues(p.size);
        setGrad(p, g);
        refs[i].step(g, 0.02, 0.1);
      });
    normal();
    opt.step();
    const before = await Promise.all(params.map(bits));
    for (const bad of [Infinity, NaN]) {
      params.forEach((p) => setGrad(p, randomValues(p.size)));
      const g = Float64Array.from(await params[1].grad!.data());
      g[3] = bad;
      setGrad(params[1], g);
      const syncs = counters.syncs;
      const norm = optim.clipGradNorm(params, 1);
      opt.step({ gradNorm: norm });
      assertEquals(counters.syncs, syncs, "clipping and stepping must not read back");
      norm.dispose();
      for (let i = 0; i < params.length; i++) {
        assertEquals(await bits(params[i]), before[i], `param ${i} after a ${bad} gradient`);
        assert((await params[i].grad!.data()).every((x) => x === 0), `grad ${i} is zeroed`);
      }
    }
    assertEquals(await opt.skippedSteps(), 2);
    assertEquals(await opt.appliedSteps(), 1);
    // The next good step continues as if the skipped ones never happened (bias correction t = 2).
    normal();
    opt.step();
    for (let i = 0; i < params.length; i++) {
      assertClose(await params[i].data(), refs[i].p, ATOL, RTOL, `param ${i} after recovery`);
    }
    opt.dispose();
    for (const p of params) p.dispose();
  },
);

gpuTest("a 20-parameter model updates in a handful of dispatches", async () => {
  const params = Array.from(
    { length: 20 },
    (_, i) => tensor(new Float32Array(16 + i * 37).fill(1), [16 + i * 37]).requireGrad(),
  );
  params.forEach((p) => setGrad(p, randomValues(p.size)));
  const opt = new optim.AdamW(params, { lr: 1e-3 });
  const d0 = counters.dispatches;
  opt.step();
  const stepOnly = counters.dispatches - d0;
  const d1 = counters.dispatches;
  const norm = optim.clipGradNorm(params, 1);
  opt.step({ gradNorm: norm });
  const withClip = counters.dispatches - d1;
  console.log(`20 params: AdamW step = ${stepOnly} dispatches, clip + step = ${withClip}`);
  // norm (≥1 partial + 1 finish) + ⌈20 / params-per-dispatch⌉ updates + 1 bookkeeping.
  assert(stepOnly <= 6, `step took ${stepOnly} dispatches`);
  assert(withClip <= 7, `clip + step took ${withClip} dispatches`);
  assertEquals(await opt.appliedSteps(), 2);
  norm.dispose();
  opt.dispose();
  for (const p of params) p.dispose();
});

gpuTest(
  "gradient accumulation: two scaled micro-batch backwards equal one full-batch backward",
  async () => {
    const host = randomValues(8);
    const c1 = tensor(Float32Array.from(randomValues(8)), [8]);
    const c2 = tensor(Float32Array.from(randomValues(8)), [8]);
    const run = async (microBatches: Tensor[][]) => {
      const p = tensor(Float32Array.from(host), [8]).requireGrad();
      const opt = new optim.SGD([p], { lr: 0.1 });
      for (const batch of microBatches) {
        // Each micro-batch loss is scaled by 1/N so that the accumulated gradient is the mean.
        tidy(() => {
          const terms = batch.map((c) => ops.sum(ops.mul(p, c)));
          const loss = terms.reduce((a, b) => ops.add(a, b));
          ops.mul(loss, 0.5).backward();
        });
      }
      opt.step();
      opt.zeroGrad();
      const out = await p.data();
      opt.dispose();
      p.dispose();
      return out;
    };
    const accumulated = await run([[c1], [c2]]);
    const full = await run([[c1, c2]]);
    assertClose(accumulated, full, 1e-7, 1e-6, "accumulated vs full batch");
    const hc1 = await c1.data(), hc2 = await c2.data();
    assertClose(full, host.map((x, i) => x - 0.1 * (hc1[i] + hc2[i]) / 2), 1e-7, 1e-6, "vs CPU");
    c1.dispose();
    c2.dispose();
  },
);

Deno.test("schedules give the expected multipliers at chosen steps", () => {
  const cos = optim.warmupCosine({ warmupSteps: 10, totalSteps: 110 });
  assertClose(
    [0, 4, 9, 10, 60, 110, 500].map(cos),
    [0.1, 0.5, 1, 1, 0.5, 0, 0],
    1e-12,
    0,
    "cosine",
  );
  const cosMin = optim.warmupCosine({ warmupSteps: 0, totalSteps: 100, minRatio: 0.1 });
  assertClose([0, 50, 100].map(cosMin), [1, 0.55, 0.1], 1e-12, 0, "cosine with floor");
  assertClose([cosMin(25)], [0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2)], 1e-12, 0, "cosine at 1/4");
  const lin = optim.warmupLinear({ warmupSteps: 4, totalSteps: 104 });
  assertClose(
    [0, 3, 4, 29, 54, 104, 200].map(lin),
    [0.25, 1, 1, 0.75, 0.5, 0, 0],
    1e-12,
    0,
    "linear",
  );
  const flat = optim.warmupConstant({ warmupSteps: 5 });
  assertClose([0, 2, 4, 5, 1000].map(flat), [0.2, 0.6, 1, 1, 1], 1e-12, 0, "constant");
  assertThrows(() => optim.warmupCosine({ warmupSteps: 10, totalSteps: 5 }), "totalSteps");
});

gpuTest("the schedule multiplies each group's lr at each step", async () => {
  const host = randomValues(5);
  const p = tensor(Float32Array.from(host), [5]).requireGrad();
  const schedule = optim.warmupLinear({ warmupSteps: 2, totalSteps: 4 });
  const opt = new optim.SGD([p], { lr: 0.3, schedule });
  for (let step = 0; step < 3; step++) {
    assertClose([opt.currentLr()], [0.3 * schedule(step)], 1e-12, 0, `lr at ${step}`);
    const g = randomValues(5);
    setGrad(p, g);
    opt.step();
    for (let i = 0; i < 5; i++) host[i] -= 0.3 * schedule(step) * g[i];
  }
  assertClose(await p.data(), host, 1e-7, 1e-6, "param");
  opt.setLr(0.7);
  assertEquals(opt.groups[0].lr, 0.7);
  opt.dispose();
  p.dispose();
});

gpuTest("exported optimizer state resumes bit-identically in a fresh optimizer", async () => {
  const host = [randomValues(6), randomValues(11)];
  const a = host.map((h) => tensor(Float32Array.from(h), [h.length]).requireGrad());
  const optA = new optim.AdamW(a, { lr: 0.01 });
  const grads = Array.from({ length: 3 }, () => host.map((h) => randomValues(h.length)));
  for (const step of grads.slice(0, 2)) {
    a.forEach((p, i) => setGrad(p, step[i]));
    optA.step();
  }
  const snapshot = await optA.exportState();
  // A fresh optimizer over copies of the current weights, built with other settings.
  const b = await Promise.all(a.map(async (p) => tensor(await p.data(), p.shape).requireGrad()));
  const optB = new optim.AdamW(b, { lr: 0.5 });
  optB.importState(snapshot);
  assertEquals(optB.groups[0].lr, 0.01);
  assertEquals(optB.stepCalls, 2);
  assertEquals(await optB.appliedSteps(), 2);
  a.forEach((p, i) => setGrad(p, grads[2][i]));
  b.forEach((p, i) => setGrad(p, grads[2][i]));
  optA.step();
  optB.step();
  for (let i = 0; i < a.length; i++) assertEquals(await bits(b[i]), await bits(a[i]));
  const sgd = new optim.SGD(a, { lr: 1, momentum: 0.5 });
  assertThrows(() => sgd.importState(snapshot), "adamw");
  for (const o of [optA, optB, sgd]) o.dispose();
  for (const p of [...a, ...b]) p.dispose();
});

gpuTest("optimizers reject duplicate parameters and bad settings", () => {
  const p = tensor([1, 2], [2]).requireGrad();
  assertThrows(() => new optim.AdamW([p, p], { lr: 1 }), "twice");
  assertThrows(() => new optim.AdamW([p], { lr: 1, betas: [1, 0.9] }), "betas");
  assertThrows(() => new optim.SGD([{ params: [p], lr: -1 }], { lr: 1 }), "lr");
  assertThrows(() => new optim.AdamW([tensor([1], [1], "i32")], { lr: 1 }), "f32");
  p.dispose();
});

gpuTest("WeightAverage: warmed-up decay, swap and load match an f64 reference", async () => {
  const p = tensor([1, -2, 3], [3]).requireGrad();
  const avg = new optim.WeightAverage([p], 0.9);
  const expected = [1, -2, 3];
  const steps = [[2, 0, 3], [4, 4, -1], [0, 1, 1]];
  steps.forEach((values, t) => {
    const next = tensor(values, [3]);
    copyInto(avg.params[0], next);
    next.dispose();
    // The decay warms up as min(0.9, (1 + t) / (10 + t)): 0.1, 0.1818…, 0.25.
    const d = Math.min(0.9, (1 + t) / (10 + t));
    assertClose([avg.currentDecay], [d], 1e-12, 0, `decay at update ${t}`);
    avg.update();
    values.forEach((v, i) => (expected[i] += (1 - d) * (v - expected[i])));
  });
  // f32 arithmetic over three updates of order-1 values: 1e-6 absolute is ~10 ulps of margin.
  assertClose(Array.from(await avg.shadows[0].data()), expected, 1e-6, 0, "shadow");
  const trained = Array.from(await avg.params[0].data());
  const seen = await avg.withAveraged(async () => Array.from(await avg.params[0].data()));
  assertClose(seen, expected, 1e-6, 0, "averaged weights in place");
  assertEquals(Array.from(await avg.params[0].data()), trained, "swapped back exactly");
  const saved = tensor([7, 8, 9], [3]);
  avg.load([saved], 42);
  assertEquals(avg.updates, 42);
  assertEquals(Array.from(await avg.shadows[0].data()), [7, 8, 9]);
  assertThrows(() => avg.load([], 0), "0 tensors for 1 shadows");
  saved.dispose();
  avg.params[0].dispose();
  avg.dispose();
});

/** Overwrites `dst`'s contents with `src`'s (same size), as a training step would change them. */
function copyInto(dst: Tensor, src: Tensor): void {
  copyBuffer(src.buffer, dst.buffer, dst.byteLength);
}
