/**
 * Elementwise kernels: unary maps (with a scalar parameter `s`), binary maps with NumPy
 * broadcasting, and the fused backward maps of activations. Same-shape work runs four elements
 * per invocation through vec4 loads.
 *
 * @module
 */
import { dispatch, f32Bits, grid, type Kernel } from "./runtime.ts";

const WG = 256;
/** Largest rank the broadcasting and strided kernels accept. */
export const MAX_RANK = 8;

/** Unary expressions over `x` (type `T`, f32 or vec4f) and the f32 scalar `s`. */
export const UNARY = {
  neg: "-x",
  exp: "exp(x)",
  log: "log(x)",
  sqrt: "sqrt(x)",
  abs: "abs(x)",
  sign: "sign(x)",
  relu: "max(x, T(0.0))",
  gelu: "0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x * x * x)))",
  silu: "x / (1.0 + exp(-x))",
  tanh: "tanh(clamp(x, T(-15.0), T(15.0)))",
  sigmoid: "1.0 / (1.0 + exp(-x))",
  add_s: "x + s",
  mul_s: "x * s",
  rsub_s: "s - x",
  rdiv_s: "s / x",
  pow_s: "pow(abs(x), T(s)) * select(T(1.0), sign(x), fract(s * 0.5) == 0.5)",
  gt_s: "select(T(0.0), T(1.0), x > T(s))",
  lt_s: "select(T(0.0), T(1.0), x < T(s))",
  eq_s: "select(T(0.0), T(1.0), x == T(s))",
} as const;

/** Binary expressions over `a` and `b`; `*_bwd` forms take the forward input/output and the gradient. */
export const BINARY = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "pow(a, b)",
  maximum: "max(a, b)",
  minimum: "min(a, b)",
  gt: "select(T(0.0), T(1.0), a > b)",
  lt: "select(T(0.0), T(1.0), a < b)",
  eq: "select(T(0.0), T(1.0), a == b)",
  relu_bwd: "select(T(0.0), b, a > T(0.0))",
  gelu_bwd: "b * gelu_grad(a)",
  silu_bwd: "b * (1.0 / (1.0 + exp(-a))) * (1.0 + a * (1.0 - 1.0 / (1.0 + exp(-a))))",
  tanh_bwd: "b * (1.0 - a * a)",
  sigmoid_bwd: "b * a * (1.0 - a)",
} as const;

/** Name of a unary map. */
export type UnaryOp = keyof typeof UNARY;
/** Name of a binary map. */
export type BinaryOp = keyof typeof BINARY;

const GELU_GRAD = `
fn gelu_grad(x: T) -> T {
  let u = 0.7978845608 * (x + 0.044715 * x * x * x);
  let t = tanh(clamp(u, T(-15.0), T(15.0)));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608 * (1.0 + 0.134145 * x * x);
}`;

const INDEX = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;

const cache = new Map<string, Kernel>();
function cached(name: string, make: () => string): Kernel {
  let k = cache.get(name);
  if (!k) cache.set(name, k = { name, code: make() });
  return k;
}

function unaryKernel(op: UnaryOp, vec: boolean): Kernel {
  const t = vec ? "vec4f" : "f32";
  return cached(`unary_${op}_${t}`, () => `
alias T = ${t};
struct Params { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<T>;
@group(0) @binding(2) var<storage, read_write> ys: array<T>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  ${INDEX}
  if (i >= p.n) { return; }
  let x = xs[i];
  let s = p.s;
  ys[i] = ${UNARY[op]};
}`);
}

/** y = op(x) over `n` f32 elements, with scalar `s` for the `_s` forms. */
export function unary(op: UnaryOp, x: GPUBuffer, y: GPUBuffer, n: number, s = 0): void {
  if (n === 0) return;
  const vec = n % 4 === 0;
  const count = vec ? n / 4 : n;
  dispatch(unaryKernel(op, vec), [x, y], [count, f32Bits(s)], grid(Math.ceil(count / WG)));
}

function broadcastKernel(op: BinaryOp): Kernel {
  return cached(`binary_${op}_broadcast`, () => `
alias T = f32;
struct Params { n: u32, rank: u32, p0: u32, p1: u32, shape: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> as_: array<f32>;
@group(0) @binding(2) var<storage, read> bs: array<f32>;
@group(0) @binding(3) var<storage, read_write> ys: array<f32>;
${GELU_GRAD}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  ${INDEX}
  if (i >= p.n) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    let c = rem % dim;
    rem = rem / dim;
    ia += c * p.sa[d / 4][d % 4];
    ib += c * p.sb[d / 4][d % 4];
  }
  let a = as_[ia];
  let b = bs[ib];
  ys[i] = ${BINARY[op]};
}`);
}

/** How one operand of a two-dim broadcast [R, C] is read: whole, one row for all rows, one value per row. */
type Access = "full" | "row" | "col";

// Same-shape operands, and the broadcasts most common in a network (a bias row added to every row,
// a per-row scale), get a kernel with at most one index operation instead of a div/mod per
// dimension (CPU adapters have no SIMD integer division), four elements at a time when rows allow.
function binaryKernel(
  op: BinaryOp,
  accessA: Access,
  accessB: Access,
  vec: boolean,
): Kernel {
  const t = vec ? "vec4f" : "f32";
  const arrayType = (access: Access) => (vec && access !== "col" ? "vec4f" : "f32");
  const read = (name: string, access: Access) => {
    const at = access === "full" ? "i" : access === "row" ? "i % p.c" : "i / p.c";
    return vec && access === "col" ? `vec4f(${name}[${at}])` : `${name}[${at}]`;
  };
  return cached(`binary_${op}_${accessA}_${accessB}_${t}`, () => `
alias T = ${t};
struct Params { n: u32, c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> as_: array<${arrayType(accessA)}>;
@group(0) @binding(2) var<storage, read> bs: array<${arrayType(accessB)}>;
@group(0) @binding(3) var<storage, read_write> ys: array<T>;
${GELU_GRAD}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  ${INDEX}
  if (i >= p.n) { return; }
  let a = ${read("as_", accessA)};
  let b = ${read("bs", accessB)};
  ys[i] = ${BINARY[op]};
}`);
}

/**
 * Merges neighbouring output dims that every operand walks contiguously (or broadcasts over
 * together) and drops size-1 dims, so [B, T, D] + [D] becomes [B·T, D] + [D].
 */
export function coalesceDims(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  shape.forEach((dim, d) => {
    if (dim === 1) return;
    const last = outShape.length - 1;
    const mergeable = last >= 0 &&
      strides.every((st, k) => outStrides[k][last] === st[d] * dim);
    if (mergeable) {
      outShape[last] *= dim;
      strides.forEach((st, k) => (outStrides[k][last] = st[d]));
    } else {
      outShape.push(dim);
      strides.forEach((st, k) => outStrides[k].push(st[d]));
    }
  });
  return { shape: outShape, strides: outStrides };
}

/** The access of an operand with `strides` over a coalesced [R, C] output, if it is one of the three. */
function matrixAccess(strides: readonly number[], c: number): Access | null {
  if (strides[0] === c && strides[1] === 1) return "full";
  if (strides[0] === 0 && strides[1] === 1) return "row";
  if (strides[0] === 1 && strides[1] === 0) return "col";
  return null;
}

/** Row-major strides of `shape`, with 0 where a dim is broadcast (size 1 against a larger output dim). */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const strides = new Array(out.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = out.length - shape.length + i;
    strides[o] = shape[i] === 1 && out[o] !== 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

/** Packs up to {@linkcode MAX_RANK} values into 8 u32 words. */
export function packDims(values: readonly number[]): number[] {
  const words = new Array(MAX_RANK).fill(0);
  values.forEach((v, i) => (words[i] = v));
  return words;
}

/** y = op(a, b) with a of `aShape`, b of `bShape` broadcast to `outShape`. */
export function binary(
  op: BinaryOp,
  a: GPUBuffer,
  aShape: readonly number[],
  b: GPUBuffer,
  bShape: readonly number[],
  y: GPUBuffer,
  outShape: readonly number[],
): void {
  const n = outShape.reduce((x, d) => x * d, 1);
  if (n === 0) return;
  const same = aShape.length === bShape.length && aShape.every((d, i) => d === bShape[i]);
  if (same) {
    const vec = n % 4 === 0;
    const count = vec ? n / 4 : n;
    dispatch(
      binaryKernel(op, "full", "full", vec),
      [a, b, y],
      [count, 0],
      grid(Math.ceil(count / WG)),
    );
    return;
  }
  if (outShape.length > MAX_RANK) throw new Error(`broadcasting supports rank ≤ ${MAX_RANK}`);
  const { shape, strides: [sa, sb] } = coalesceDims(outShape, [
    broadcastStrides(aShape, outShape),
    broadcastStrides(bShape, outShape),
  ]);
  if (shape.length === 2) {
    const [accessA, accessB] = [matrixAccess(sa, shape[1]), matrixAccess(sb, shape[1])];
    if (accessA && accessB) {
      const vec = shape[1] % 4 === 0;
      const count = vec ? n / 4 : n;
      dispatch(
        binaryKernel(op, accessA, accessB, vec),
        [a, b, y],
        [count, vec ? shape[1] / 4 : shape[1]],
        grid(Math.ceil(count / WG)),
      );
      return;
    }
  }
  dispatch(
    broadcastKernel(op),
    [a, b, y],
    [n, shape.length, 0, 0, ...packDims(shape), ...packDims(sa), ...packDims(sb)],
    grid(Math.ceil(n / WG)),
  );
}
