/**
 * Casts between f32, i32 and f16. Buffers are bound as u32 words; f16 data holds two elements per
 * word (low half first), so an f16 output is written one word (two elements) per invocation and
 * an odd length leaves the last word's high half zero. The f16 conversions are done on the bits
 * (round to nearest even, overflow to ±inf, NaN kept), so they need no `shader-f16` feature and
 * give the same results on every adapter.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";

const WG = 256;

/** Element types the cast kernels convert between. */
export type CastType = "f32" | "i32" | "f16";

const HELPERS = `
fn half_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  if (e == 0u) {
    let magnitude = f32(m) * 5.9604644775390625e-8;
    return select(magnitude, -magnitude, sign != 0u);
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}
fn f32_to_half(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) {
    let r = a - 0x38000000u;
    return sign | ((r + 0x0fffu + ((r >> 13u) & 1u)) >> 13u);
  }
  return sign | u32(round(bitcast<f32>(a) * 16777216.0));
}
fn f32_to_i32(v: f32) -> i32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return 0; }
  return i32(clamp(v, -2147483648.0, 2147483520.0));
}`;

const LOAD: Record<CastType, string> = {
  f32: "bitcast<f32>(xs[i])",
  i32: "f32(bitcast<i32>(xs[i]))",
  f16: "half_to_f32((xs[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu)",
};

const STORE: Record<"f32" | "i32", string> = {
  f32: "bitcast<u32>(v)",
  i32: "bitcast<u32>(f32_to_i32(v))",
};

function castKernel(from: CastType, to: CastType): Kernel {
  const body = to === "f16"
    ? `
  let k = gid.x + gid.y * nwg.x * ${WG}u;
  if (2u * k >= p.n) { return; }
  let lo = f32_to_half(load(2u * k));
  let hi = select(0u, f32_to_half(load(2u * k + 1u)), 2u * k + 1u < p.n);
  ys[k] = lo | (hi << 16u);`
    : `
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.n) { return; }
  let v = load(i);
  ys[i] = ${STORE[to]};`;
  return {
    name: `cast_${from}_to_${to}`,
    code: `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<u32>;
@group(0) @binding(2) var<storage, read_write> ys: array<u32>;
${HELPERS}
fn load(i: u32) -> f32 { return ${LOAD[from]}; }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {${body}
}`,
  };
}

const cache = new Map<string, Kernel>();

/**
 * Converts `n` elements of `x` from `from` to `to` into `y`. Floats to i32 truncate toward zero,
 * saturate at the i32 range and map NaN to 0; f32 to f16 rounds to nearest even.
 */
export function castBuffer(
  x: GPUBuffer,
  from: CastType,
  y: GPUBuffer,
  to: CastType,
  n: number,
): void {
  if (n === 0) return;
  const key = `${from}_${to}`;
  let kernel = cache.get(key);
  if (!kernel) cache.set(key, kernel = castKernel(from, to));
  const invocations = to === "f16" ? Math.ceil(n / 2) : n;
  dispatch(kernel, [x, y], [n], grid(Math.ceil(invocations / WG)));
}
