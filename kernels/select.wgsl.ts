/**
 * Selection kernels: `where` (a ternary select with broadcasting over 4-byte elements) and
 * dropout's counter-based random mask. The mask is a pure function of (seed, element index), so
 * the backward pass regenerates it instead of storing it.
 *
 * @module
 */
import { dispatch, f32Bits, grid, type Kernel } from "./runtime.ts";
import { broadcastStrides, MAX_RANK, packDims } from "./elementwise.wgsl.ts";

const WG = 256;
const INDEX = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;
const ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u)`;
const BINDINGS = `
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> as_: array<u32>;
@group(0) @binding(3) var<storage, read> bs: array<u32>;
@group(0) @binding(4) var<storage, read_write> ys: array<u32>;`;

const whereFlatKernel: Kernel = {
  name: "where_flat_u32",
  code: `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${BINDINGS}
${ENTRY} {
  ${INDEX}
  if (i >= p.n) { return; }
  ys[i] = select(bs[i], as_[i], cond[i] != 0.0);
}`,
};

const whereBroadcastKernel: Kernel = {
  name: "where_broadcast_u32",
  code: `
struct Params {
  n: u32, rank: u32, p0: u32, p1: u32,
  shape: array<vec4u, 2>, sc: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
${BINDINGS}
${ENTRY} {
  ${INDEX}
  if (i >= p.n) { return; }
  var rem = i;
  var ic = 0u;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let c = rem % p.shape[d / 4][d % 4];
    rem = rem / p.shape[d / 4][d % 4];
    ic += c * p.sc[d / 4][d % 4];
    ia += c * p.sa[d / 4][d % 4];
    ib += c * p.sb[d / 4][d % 4];
  }
  ys[i] = select(bs[ib], as_[ia], cond[ic] != 0.0);
}`,
};

/**
 * y = cond ≠ 0 ? a : b elementwise, each operand broadcast to `outShape`; `cond` is f32, `a`, `b`
 * and `y` share one 4-byte dtype.
 */
export function where(
  cond: GPUBuffer,
  condShape: readonly number[],
  a: GPUBuffer,
  aShape: readonly number[],
  b: GPUBuffer,
  bShape: readonly number[],
  y: GPUBuffer,
  outShape: readonly number[],
): void {
  const n = outShape.reduce((x, d) => x * d, 1);
  if (n === 0) return;
  const same = (s: readonly number[]) => s.join() === outShape.join();
  if (same(condShape) && same(aShape) && same(bShape)) {
    dispatch(whereFlatKernel, [cond, a, b, y], [n], grid(Math.ceil(n / WG)));
    return;
  }
  if (outShape.length > MAX_RANK) throw new Error(`where supports rank ≤ ${MAX_RANK}`);
  dispatch(
    whereBroadcastKernel,
    [cond, a, b, y],
    [
      n,
      outShape.length,
      0,
      0,
      ...packDims(outShape),
      ...packDims(broadcastStrides(condShape, outShape)),
      ...packDims(broadcastStrides(aShape, outShape)),
      ...packDims(broadcastStrides(bShape, outShape)),
    ],
    grid(Math.ceil(n / WG)),
  );
}

// A 32-bit integer mix with full avalanche, applied twice with the seed folded in between, so
// that neighbouring indices and neighbouring seeds give unrelated bits.
const dropoutKernel: Kernel = {
  name: "dropout_mask_f32",
  code: `
struct Params { n: u32, seed: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> ys: array<f32>;
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}
${ENTRY} {
  ${INDEX}
  if (i >= p.n) { return; }
  let key = mix32(p.seed ^ 0x9e3779b9u);
  let bits = mix32(mix32(i ^ key) + key);
  ys[i] = select(0.0, xs[i] * p.scale, bits >= p.threshold);
}`,
};

/**
 * y[i] = x[i]·scale where the hash of (seed, i) is at least `threshold` (of 2³²), else 0; the same
 * seed always drops the same indices.
 */
export function dropoutMask(
  x: GPUBuffer,
  y: GPUBuffer,
  n: number,
  seed: number,
  threshold: number,
  scale: number,
): void {
  if (n === 0) return;
  dispatch(
    dropoutKernel,
    [x, y],
    [n, seed >>> 0, threshold >>> 0, f32Bits(scale)],
    grid(Math.ceil(n / WG)),
  );
}
