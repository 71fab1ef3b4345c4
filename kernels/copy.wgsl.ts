/**
 * Strided copies of 4-byte tensors. The gather, out[i] = x[offset + Σ coord_d · stride_d] over the
 * output shape, materialises broadcasts (stride 0), permutations and slices. The scatter,
 * y[offset + Σ coord_d · stride_d] = x[i] over the input shape, writes a block into a larger
 * tensor: concat's parts and slice's gradient.
 *
 * @module
 */
import { dispatch, grid, type Kernel } from "./runtime.ts";
import { coalesceDims, MAX_RANK, packDims } from "./elementwise.wgsl.ts";

const WG = 256;

type Direction = "gather" | "scatter";

function stridedKernel(direction: Direction, vec: boolean): Kernel {
  const assign = direction === "gather" ? "ys[i] = xs[at];" : "ys[at] = xs[i];";
  const t = vec ? "vec4u" : "u32";
  return {
    name: `strided_${direction}_${t}`,
    code: `
struct Params { n: u32, rank: u32, offset: u32, p1: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ys: array<${t}>;
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

const kernels = {
  gather: [stridedKernel("gather", false), stridedKernel("gather", true)],
  scatter: [stridedKernel("scatter", false), stridedKernel("scatter", true)],
};

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
  // Fewer dims mean fewer div/mod per element; a contiguous innermost run of whole vec4s moves
  // four elements per index computation.
  const { shape: dims, strides: [steps] } = coalesceDims(shape, [strides]);
  const last = dims.length - 1;
  const vec = last >= 0 && steps[last] === 1 && dims[last] % 4 === 0 && offset % 4 === 0 &&
    steps.every((s, d) => d === last || s % 4 === 0);
  const words = vec
    ? [dims.map((d, i) => (i === last ? d / 4 : d)), steps.map((s, i) => (i === last ? 1 : s / 4))]
    : [dims, steps];
  const count = vec ? n / 4 : n;
  dispatch(
    kernels[direction][vec ? 1 : 0],
    [x, y],
    [
      count,
      dims.length,
      vec ? offset / 4 : offset,
      0,
      ...packDims(words[0]),
      ...packDims(words[1]),
    ],
    grid(Math.ceil(count / WG)),
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
