/**
 * Fills a buffer with one value.
 *
 * @module
 */
import { dispatch, f32Bits, grid, type Kernel } from "./runtime.ts";

const WG = 256;

function fillKernel(type: "f32" | "i32"): Kernel {
  return {
    name: `fill_${type}`,
    code: /* wgsl */ `
struct Params { n: u32, value: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<${type}>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i < p.n) { y[i] = bitcast<${type}>(p.value); }
}`,
  };
}

const kernels = { f32: fillKernel("f32"), i32: fillKernel("i32") };

/** Writes `value` into the first `n` elements of `buffer`. */
export function fill(buffer: GPUBuffer, n: number, value: number, dtype: "f32" | "i32"): void {
  if (n === 0) return;
  const bits = dtype === "f32" ? f32Bits(value) : value | 0;
  dispatch(kernels[dtype], [buffer], [n, bits >>> 0], grid(Math.ceil(n / WG)));
}
