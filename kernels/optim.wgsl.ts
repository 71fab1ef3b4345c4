/**
 * Fused optimizer kernels. Each dispatch binds many parameters at once (as many as the adapter's
 * storage-buffer limit allows), so updating a whole model takes a handful of dispatches:
 * the global gradient norm (partial sums + one finishing pass), gradient clipping, the AdamW or SGD
 * update and a one-thread bookkeeping pass. Optimizer moments live in one flat buffer per chunk of
 * parameters, addressed through per-parameter offsets in the uniform.
 *
 * A step is skipped without a CPU sync when the gradient norm is not finite: the update kernels read
 * the norm from its buffer, zero the gradients instead of updating, and `finishStep` counts the skip.
 *
 * @module
 */
import { gpu } from "../core/device.ts";
import { dispatch, f32Bits, type Kernel } from "./runtime.ts";

const WG = 256;
/** Most workgroups one dispatch launches; larger tensors are covered by grid-stride loops. */
const MAX_WORKGROUPS = 4096;
/** Uniform words reserved for scalars before the per-parameter table. */
const HEADER_WORDS = 8;
/** Per-parameter uniform words: n, offset, lr bits, weight-decay bits. */
const SLOT_WORDS = 4;
/** The 64-word uniform slot bounds the per-parameter table of the update kernels. */
const MAX_UPDATE_SLOTS = (64 - HEADER_WORDS) / SLOT_WORDS;
/** The sizes table of the reduce/scale kernels: 8 vec4u words after a 4-word header. */
const MAX_SIZE_SLOTS = 32;

/** A gradient (or any f32 buffer) and its element count. */
export interface SizedBuffer {
  buffer: GPUBuffer;
  n: number;
}

/** One parameter's part in a fused update. */
export interface UpdateSlot {
  param: GPUBuffer;
  grad: GPUBuffer;
  /** Element count. */
  n: number;
  /** Element offset of this parameter's state in the chunk's flat state buffer. */
  offset: number;
  /** Learning rate for this step (group lr × schedule). */
  lr: number;
  weightDecay: number;
}

const cache = new Map<string, Kernel>();
function cached(name: string, make: () => string): Kernel {
  let k = cache.get(name);
  if (!k) cache.set(name, k = { name, code: make() });
  return k;
}

function storageLimit(): number {
  return gpu().limits.maxStorageBuffersPerShaderStage;
}

/** How many buffers of `perItem` bindings fit beside `fixed` bindings, capped by the uniform table. */
function itemsPerDispatch(fixed: number, perItem: number, cap: number): number {
  const k = Math.min(cap, Math.floor((storageLimit() - fixed) / perItem));
  if (k < 1) {
    throw new Error(`the adapter allows too few storage buffers per stage for the optimizer`);
  }
  return k;
}

/** Tensors at least this large get a dispatch of their own (see {@linkcode chunks}). */
const ALONE_ELEMENTS = 1 << 16;

/**
 * Splits items into dispatch groups of at most `size`: every large tensor alone, the small ones
 * together. Every invocation of a group's dispatch walks every tensor of the group, so one large
 * tensor grouped with small ones made the small ones cost as much as the large one: on lavapipe a
 * 3.2 M-element table clipped together with 30 small tensors took 85–100 ms against 14–28 ms alone
 * plus 6–7 ms for the small ones (2026-12-03).
 */
function chunks<T extends { n: number }>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  const small: T[] = [];
  for (const item of items) {
    if (item.n >= ALONE_ELEMENTS) out.push([item]);
    else small.push(item);
  }
  for (let i = 0; i < small.length; i += size) out.push(small.slice(i, i + size));
  return out;
}

function workgroupsFor(n: number, most = MAX_WORKGROUPS): number {
  return Math.min(most, Math.max(1, Math.ceil(n / WG)));
}

/**
 * Workgroups of a sum-of-squares dispatch: fewer than the update kernels use, because each one
 * ends in a barrier tree that costs lavapipe more than the loads (4096 trees over a 3.2 M-element
 * tensor took 90–110 ms).
 */
function reduceWorkgroupsFor(n: number): number {
  return workgroupsFor(n, MAX_REDUCE_WORKGROUPS);
}
const MAX_REDUCE_WORKGROUPS = 128;

const IS_NON_FINITE = `
fn non_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }`;

const STRIDE = `
  let stride = nwg.x * ${WG}u;
  let start = wid.x * ${WG}u + lid;`;

const sizeOf = (k: number) => `p.sizes[${k >> 2}][${k & 3}]`;

function sumSquaresKernel(count: number): Kernel {
  return cached(`optim_sum_squares_${count}`, () => {
    const bindings = Array.from(
      { length: count },
      (_, k) => `@group(0) @binding(${k + 2}) var<storage, read> g${k}: array<f32>;`,
    ).join("\n");
    const loops = Array.from(
      { length: count },
      (_, k) =>
        `  for (var i = start; i < ${sizeOf(k)}; i += stride) { acc += g${k}[i] * g${k}[i]; }`,
    )
      .join("\n");
    return `
struct Params { base: u32, p0: u32, p1: u32, p2: u32, sizes: array<vec4u, 8> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
${bindings}
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${STRIDE}
  var acc = 0.0;
${loops}
  part[lid] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] += part[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[p.base + wid.x] = part[0]; }
}`;
  });
}

const finishNormKernel: Kernel = {
  name: "optim_finish_norm",
  code: `
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < p.count; i += ${WG}u) { acc += partials[i]; }
  part[lid] = acc;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { part[lid] += part[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { norm[0] = sqrt(part[0]); }
}`,
};

/** Number of partial sums {@linkcode sumSquares} writes for these buffers (size its scratch buffer). */
export function sumSquaresPartialCount(buffers: SizedBuffer[]): number {
  const k = itemsPerDispatch(1, 1, MAX_SIZE_SLOTS);
  return chunks(buffers, k).reduce(
    (total, group) => total + reduceWorkgroupsFor(Math.max(...group.map((b) => b.n))),
    0,
  );
}

/**
 * Writes √(Σ x²) over all elements of all `buffers` into `norm[0]`, using `partials` (at least
 * {@linkcode sumSquaresPartialCount} floats) as scratch. One dispatch per group of buffers plus one.
 */
export function globalNorm(buffers: SizedBuffer[], partials: GPUBuffer, norm: GPUBuffer): void {
  const k = itemsPerDispatch(1, 1, MAX_SIZE_SLOTS);
  let base = 0;
  for (const group of chunks(buffers, k)) {
    const workgroups = reduceWorkgroupsFor(Math.max(...group.map((b) => b.n)));
    const sizes = new Array(MAX_SIZE_SLOTS).fill(0);
    group.forEach((b, i) => (sizes[i] = b.n));
    dispatch(
      sumSquaresKernel(group.length),
      [partials, ...group.map((b) => b.buffer)],
      [base, 0, 0, 0, ...sizes],
      [workgroups],
    );
    base += workgroups;
  }
  dispatch(finishNormKernel, [partials, norm], [base], [1]);
}

function clipKernel(count: number): Kernel {
  return cached(`optim_clip_${count}`, () => {
    const bindings = Array.from(
      { length: count },
      (_, k) => `@group(0) @binding(${k + 2}) var<storage, read_write> g${k}: array<f32>;`,
    ).join("\n");
    const loops = Array.from(
      { length: count },
      (_, k) => `  for (var i = start; i < ${sizeOf(k)}; i += stride) { g${k}[i] *= scale; }`,
    ).join("\n");
    return `
struct Params { max_norm: f32, p0: u32, p1: u32, p2: u32, sizes: array<vec4u, 8> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
${bindings}
${IS_NON_FINITE}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${STRIDE}
  // A non-finite norm leaves the gradients as they are, so that the optimizer's guard sees them.
  if (non_finite(norm[0])) { return; }
  let scale = min(1.0, p.max_norm / (norm[0] + 1e-6));
${loops}
}`;
  });
}

/** Scales every buffer by min(1, maxNorm / (norm[0] + 1e-6)), reading the norm on the GPU. */
export function clipByNorm(buffers: SizedBuffer[], norm: GPUBuffer, maxNorm: number): void {
  const k = itemsPerDispatch(1, 1, MAX_SIZE_SLOTS);
  for (const group of chunks(buffers, k)) {
    const sizes = new Array(MAX_SIZE_SLOTS).fill(0);
    group.forEach((b, i) => (sizes[i] = b.n));
    dispatch(
      clipKernel(group.length),
      [norm, ...group.map((b) => b.buffer)],
      [f32Bits(maxNorm), 0, 0, 0, ...sizes],
      [workgroupsFor(Math.max(...group.map((b) => b.n)))],
    );
  }
}

/** Generates a fused update over `count` parameters; `body` updates element i of param k. */
function updateKernel(
  name: string,
  count: number,
  header: string,
  fixedBindings: string,
  prelude: string,
  body: (k: number) => string,
  helpers: string,
): Kernel {
  return cached(`${name}_${count}`, () => {
    const fixedCount = fixedBindings ? fixedBindings.split("\n").length : 0;
    const first = 2 + fixedCount;
    const bindings = Array.from(
      { length: count },
      (_, k) =>
        `@group(0) @binding(${first + 2 * k}) var<storage, read_write> p${k}: array<f32>;
@group(0) @binding(${first + 2 * k + 1}) var<storage, read_write> g${k}: array<f32>;`,
    ).join("\n");
    const slot = (k: number) => `p.slots[${k}]`;
    const zeroLoops = Array.from(
      { length: count },
      (_, k) => `    for (var i = start; i < ${slot(k)}.x; i += stride) { g${k}[i] = 0.0; }`,
    ).join("\n");
    const updateLoops = Array.from({ length: count }, (_, k) => `
  {
    let n = ${slot(k)}.x;
    let offset = ${slot(k)}.y;
    let lr = bitcast<f32>(${slot(k)}.z);
    let wd = bitcast<f32>(${slot(k)}.w);
    for (var i = start; i < n; i += stride) { ${body(k)} }
  }`).join("");
    return `
struct Params { ${header}, slots: array<vec4u, ${count}> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
${fixedBindings}
${bindings}
${IS_NON_FINITE}
${helpers}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  ${STRIDE}
  if (non_finite(norm[0])) {
${zeroLoops}
    return;
  }
  ${prelude}
${updateLoops}
}`;
  });
}

const ONE_MINUS_POW = `
// 1 − βᵗ = −expm1(t·ln β), by its series where 1 − exp would cancel (β = 0.999, small t).
fn one_minus_pow(ln_beta: f32, t: f32) -> f32 {
  let x = t * ln_beta;
  if (x < -0.5) { return 1.0 - exp(x); }
  var term = x;
  var sum = x;
  for (var k = 2.0; k <= 12.0; k += 1.0) {
    term *= x / k;
    sum += term;
  }
  return -sum;
}`;

/** AdamW hyperparameters shared by all parameters of one dispatch. */
export interface AdamWHyper {
  beta1: number;
  beta2: number;
  eps: number;
}

function slotWords(group: UpdateSlot[]): number[] {
  return group.flatMap((s) => [s.n, s.offset, f32Bits(s.lr), f32Bits(s.weightDecay)]);
}

/**
 * AdamW (decoupled weight decay, bias correction from the GPU step counter `counters[0]`) over
 * `slots`, whose moments (m, v) are interleaved in `moments` at each slot's offset. Skips (and
 * zeroes the gradients) when `norm[0]` is not finite.
 */
export function adamwUpdate(
  slots: UpdateSlot[],
  moments: GPUBuffer,
  norm: GPUBuffer,
  counters: GPUBuffer,
  hyper: AdamWHyper,
): void {
  const k = itemsPerDispatch(3, 2, MAX_UPDATE_SLOTS);
  for (const group of chunks(slots, k)) {
    const kernel = updateKernel(
      "optim_adamw",
      group.length,
      "beta1: f32, beta2: f32, ln_beta1: f32, ln_beta2: f32, eps: f32, p0: u32, p1: u32, p2: u32",
      `@group(0) @binding(2) var<storage, read> counters: array<u32>;
@group(0) @binding(3) var<storage, read_write> mv: array<vec2f>;`,
      `let t = f32(counters[0] + 1u);
  let bc1 = one_minus_pow(p.ln_beta1, t);
  let sqrt_bc2 = sqrt(one_minus_pow(p.ln_beta2, t));`,
      (j) => `
      let g = g${j}[i];
      let s = mv[offset + i];
      let m = p.beta1 * s.x + (1.0 - p.beta1) * g;
      let v = p.beta2 * s.y + (1.0 - p.beta2) * g * g;
      mv[offset + i] = vec2f(m, v);
      let decayed = p${j}[i] * (1.0 - lr * wd);
      p${j}[i] = decayed - (lr / bc1) * m / (sqrt(v) / sqrt_bc2 + p.eps);`,
      ONE_MINUS_POW,
    );
    dispatch(
      kernel,
      [norm, counters, moments, ...group.flatMap((s) => [s.param, s.grad])],
      [
        f32Bits(hyper.beta1),
        f32Bits(hyper.beta2),
        f32Bits(Math.log(hyper.beta1)),
        f32Bits(Math.log(hyper.beta2)),
        f32Bits(hyper.eps),
        0,
        0,
        0,
        ...slotWords(group),
      ],
      [workgroupsFor(Math.max(...group.map((s) => s.n)))],
    );
  }
}

/**
 * SGD with optional momentum (PyTorch's form: buf = μ·buf + g', p −= lr·buf, with
 * g' = g + wd·p). `momentumBuffer` is null when μ = 0. Skips like {@linkcode adamwUpdate}.
 */
export function sgdUpdate(
  slots: UpdateSlot[],
  momentumBuffer: GPUBuffer | null,
  norm: GPUBuffer,
  momentum: number,
): void {
  const withMomentum = momentumBuffer !== null;
  const k = itemsPerDispatch(withMomentum ? 2 : 1, 2, MAX_UPDATE_SLOTS);
  for (const group of chunks(slots, k)) {
    const kernel = updateKernel(
      withMomentum ? "optim_sgd_momentum" : "optim_sgd",
      group.length,
      "momentum: f32, p0: u32, p1: u32, p2: u32, p3: u32, p4: u32, p5: u32, p6: u32",
      withMomentum ? `@group(0) @binding(2) var<storage, read_write> buf: array<f32>;` : "",
      "",
      (j) => `
      let g = g${j}[i] + wd * p${j}[i];
      ${
        withMomentum
          ? `let b = p.momentum * buf[offset + i] + g;
      buf[offset + i] = b;
      p${j}[i] -= lr * b;`
          : `p${j}[i] -= lr * g;`
      }`,
      "",
    );
    dispatch(
      kernel,
      [norm, ...(withMomentum ? [momentumBuffer] : []), ...group.flatMap((s) => [s.param, s.grad])],
      [f32Bits(momentum), 0, 0, 0, 0, 0, 0, 0, ...slotWords(group)],
      [workgroupsFor(Math.max(...group.map((s) => s.n)))],
    );
  }
}

const finishStepKernel: Kernel = {
  name: "optim_finish_step",
  code: `
@group(0) @binding(0) var<uniform> unused: vec4u;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> counters: array<u32>;
${IS_NON_FINITE}
@compute @workgroup_size(1)
fn main() {
  _ = unused;
  if (non_finite(norm[0])) { counters[1] += 1u; } else { counters[0] += 1u; }
}`,
};

/** Counts the step: `counters[0]` (applied steps) or, when `norm[0]` is not finite, `counters[1]` (skips). */
export function finishStep(norm: GPUBuffer, counters: GPUBuffer): void {
  dispatch(finishStepKernel, [norm, counters], [0], [1]);
}
