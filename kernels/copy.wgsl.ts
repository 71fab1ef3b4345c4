/**
 * Strided copies of 4-byte tensors. The gather, out[i] = x[offset + Σ coord_d · stride_d] over the
 * output shape, materialises broadcasts (stride 0), permutations and slices. The scatter,
 * y[offset + Σ coord_d · stride_d] = x[i] over the input shape, writes a block into a larger
 * tensor: concat's parts and slice's gradient.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";
import { MAX_RANK, packDims } from "./elementwise.wgsl.ts";

const WG = 256;

const kernel: Kernel = {
  name: "strided_copy_u32",
  code: `
struct Params { n: u32, rank: u32, offset: u32, p1: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<u32>;
@group(0) @binding(2) var<storage, read_write> ys: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.n) { return; }
  var rem = i;
  var src = p.offset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    src += (rem % dim) * p.strides[d / 4][d % 4];
    rem = rem / dim;
  }
  ys[i] = xs[src];
}`,
};

/** Gathers a strided view of the 4-byte elements of `x` into contiguous `y` of `outShape`. */
export function stridedCopy(
  x: GPUBuffer,
  y: GPUBuffer,
  outShape: readonly number[],
  strides: readonly number[],
  offset = 0,
): void {
  const n = outShape.reduce((a, d) => a * d, 1);
  if (n === 0) return;
  if (outShape.length > MAX_RANK) throw new Error(`strided copy supports rank ≤ ${MAX_RANK}`);
  dispatch(
    kernel,
    [x, y],
    [n, outShape.length, offset, 0, ...packDims(outShape), ...packDims(strides)],
    grid(Math.ceil(n / WG)),
  );
}

const scatterKernel: Kernel = {
  name: "strided_scatter_u32",
  code: `
struct Params { n: u32, rank: u32, offset: u32, p1: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<u32>;
@group(0) @binding(2) var<storage, read_write> ys: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= p.n) { return; }
  var rem = i;
  var dst = p.offset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    dst += (rem % dim) * p.strides[d / 4][d % 4];
    rem = rem / dim;
  }
  ys[dst] = xs[i];
}`,
};

/**
 * Scatters contiguous `x` of `inShape` into `y` at `offset + Σ coord · strides`; elements of `y`
 * outside that block are left untouched. The strides must not map two elements to one place.
 */
export function stridedScatter(
  x: GPUBuffer,
  y: GPUBuffer,
  inShape: readonly number[],
  strides: readonly number[],
  offset = 0,
): void {
  const n = inShape.reduce((a, d) => a * d, 1);
  if (n === 0) return;
  if (inShape.length > MAX_RANK) throw new Error(`strided scatter supports rank ≤ ${MAX_RANK}`);
  dispatch(
    scatterKernel,
    [x, y],
    [n, inShape.length, offset, 0, ...packDims(inShape), ...packDims(strides)],
    grid(Math.ceil(n / WG)),
  );
}
