/**
 * Kernels of dynamic loss scaling: dividing gradients by the loss scale, and adapting the scale
 * from the step's gradient norm. Both read the scale from a GPU buffer, so a training step needs
 * no readback to scale, unscale or back off.
 *
 * @module
 */
import { gpu } from "../core/device.ts";
import { dispatch, f32Bits, type Kernel } from "./runtime.ts";

const WG = 256;
const MAX_WORKGROUPS = 4096;
/** The sizes table of the unscale kernel: 8 vec4u words. */
const MAX_SLOTS = 32;

/** A gradient buffer and its element count. */
export interface GradBuffer {
  buffer: GPUBuffer;
  n: number;
}

const unscaleKernels = new Map<number, Kernel>();

function unscaleKernel(count: number): Kernel {
  let kernel = unscaleKernels.get(count);
  if (kernel) return kernel;
  const bindings = Array.from(
    { length: count },
    (_, k) => `@group(0) @binding(${k + 2}) var<storage, read_write> g${k}: array<f32>;`,
  ).join("\n");
  const loops = Array.from(
    { length: count },
    (_, k) =>
      `  for (var i = start; i < p.sizes[${k >> 2}][${k & 3}]; i += stride) { g${k}[i] *= inv; }`,
  ).join("\n");
  kernel = {
    name: `grad_scaler_unscale_${count}`,
    code: `
struct Params { sizes: array<vec4u, ${MAX_SLOTS / 4}> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
${bindings}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * ${WG}u;
  let start = wid.x * ${WG}u + lid;
  let inv = 1.0 / scale[0];
${loops}
}`,
  };
  unscaleKernels.set(count, kernel);
  return kernel;
}

/** Multiplies every gradient by 1 / `scale[0]`, as many gradients per dispatch as the adapter binds. */
export function unscaleGrads(grads: GradBuffer[], scale: GPUBuffer): void {
  const perDispatch = Math.min(MAX_SLOTS, gpu().limits.maxStorageBuffersPerShaderStage - 1);
  for (let first = 0; first < grads.length; first += perDispatch) {
    const group = grads.slice(first, first + perDispatch);
    const sizes = new Array(MAX_SLOTS).fill(0);
    group.forEach((g, i) => (sizes[i] = g.n));
    const largest = Math.max(...group.map((g) => g.n));
    dispatch(
      unscaleKernel(group.length),
      [scale, ...group.map((g) => g.buffer)],
      sizes,
      [Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(largest / WG)))],
    );
  }
}

/** How the scale adapts: factors and the number of finite steps between growths. */
export interface ScaleRule {
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

const updateScaleKernel: Kernel = {
  name: "grad_scaler_update",
  code: `
struct Params { growth: f32, backoff: f32, interval: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> tracker: array<u32>;
fn non_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }
@compute @workgroup_size(1)
fn main() {
  if (non_finite(norm[0])) {
    scale[0] *= p.backoff;
    tracker[0] = 0u;
    return;
  }
  tracker[0] += 1u;
  if (tracker[0] >= p.interval) {
    tracker[0] = 0u;
    let grown = scale[0] * p.growth;
    // Growth stops below f32's range: an infinite scale could never back off again.
    if (!non_finite(grown)) { scale[0] = grown; }
  }
}`,
};

/**
 * Backs the scale off (and restarts the growth count) when `norm[0]` is not finite, the same test
 * the optimizer's guard applies; otherwise counts a good step and grows the scale every
 * `growthInterval` good steps.
 */
export function updateScale(
  norm: GPUBuffer,
  scale: GPUBuffer,
  tracker: GPUBuffer,
  rule: ScaleRule,
): void {
  dispatch(
    updateScaleKernel,
    [norm, scale, tracker],
    [f32Bits(rule.growthFactor), f32Bits(rule.backoffFactor), rule.growthInterval],
    [1],
  );
}
