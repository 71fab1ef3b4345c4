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

type Direction = "gather" | "scatter";

function stridedKernel(direction: Direction): Kernel {
  const assign = direction === "gather" ? "ys[i] = xs[at];" : "ys[at] = xs[i];";
  return {
    name: `strided_${direction}_u32`,
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
  var at = p.offset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    at += (rem % dim) * p.strides[d / 4][d % 4];
    rem = rem / dim;
  }
  ${assign}
}`,
  };
}

const kernels = { gather: stridedKernel("gather"), scatter: stridedKernel("scatter") };

function run(
  direction: Direction,
  x: GPUBuffer,
  y: GPUBuffer,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): void {
  const n = shape.reduce((a, d) => a * d, 1);
  if (n === 0) return;
  if (shape.length > MAX_RANK) throw new Error(`strided ${direction} supports rank ≤ ${MAX_RANK}`);
  dispatch(
    kernels[direction],
    [x, y],
    [n, shape.length, offset, 0, ...packDims(shape), ...packDims(strides)],
    grid(Math.ceil(n / WG)),
  );
}

/** Gathers a strided view of the 4-byte elements of `x` into contiguous `y` of `outShape`. */
export function stridedCopy(
  x: GPUBuffer,
  y: GPUBuffer,
  outShape: readonly number[],
  strides: readonly number[],
  offset = 0,
): void {
  run("gather", x, y, outShape, strides, offset);
}

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
  run("scatter", x, y, inShape, strides, offset);
}
