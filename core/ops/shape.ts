/**
 * Shape ops. Views that share data (`unsqueeze`, `squeeze`) and ops that move 4-byte elements with
 * the strided-copy kernels: `permute`/`transpose`, `slice`, `concat`, `stack` (`broadcastTo` is in
 * broadcast.ts).
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor, zeros } from "../tensor.ts";
import { stridedCopy, stridedScatter } from "../../kernels/copy.wgsl.ts";

function checkFourByte(op: string, x: Tensor): void {
  if (x.dtype === "f16") throw new Error(`${op}: f16 tensors are not supported; cast first`);
}

/** Resolves a possibly negative axis against `rank`, with a clear error when out of range. */
function resolveAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Row-major strides of a contiguous tensor of `shape`. */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/** Reorders the dims of `x`: output dim i is input dim `axes[i]` (negative axes allowed). */
export function permute(x: Tensor, axes: number[]): Tensor {
  const order = axes.map((a) => resolveAxis("permute", a, x.rank));
  if (order.length !== x.rank || new Set(order).size !== x.rank) {
    throw new Error(
      `permute: [${axes}] is not a permutation of the ${x.rank} dims of [${x.shape}]`,
    );
  }
  checkFourByte("permute", x);
  if (order.every((a, i) => a === i)) return x.reshape(x.shape);
  const strides = contiguousStrides(x.shape);
  const shape = order.map((a) => x.shape[a]);
  const y = new Tensor(shape, x.dtype);
  stridedCopy(x.buffer, y.buffer, shape, order.map((a) => strides[a]));
  const inverse = new Array<number>(order.length);
  order.forEach((a, i) => (inverse[a] = i));
  return attach(y, "permute", [x], (g) => [permute(g, inverse)]);
}

/** Swaps two dims (by default the last two). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = resolveAxis("transpose", axis0, x.rank);
  const b = resolveAxis("transpose", axis1, x.rank);
  const axes = [...Array(x.rank).keys()];
  [axes[a], axes[b]] = [axes[b], axes[a]];
  return permute(x, axes);
}

/**
 * The elements `start ≤ i < end` along `axis`. Negative indices count from the end and both
 * bounds are clamped to the dim, as in Python; an empty range gives a size-0 dim. The gradient is
 * the output gradient padded with zeros.
 */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = resolveAxis("slice", axis, x.rank);
  checkFourByte("slice", x);
  const dim = x.shape[ax];
  const clampIndex = (i: number) => Math.min(dim, Math.max(0, i < 0 ? i + dim : i));
  const from = clampIndex(start);
  const to = Math.max(from, clampIndex(end));
  const shape = x.shape.map((d, i) => (i === ax ? to - from : d));
  const strides = contiguousStrides(x.shape);
  const offset = from * strides[ax];
  const y = new Tensor(shape, x.dtype);
  stridedCopy(x.buffer, y.buffer, shape, strides, offset);
  return attach(y, "slice", [x], (g) => {
    const padded = zeros(x.shape, g.dtype);
    stridedScatter(g.buffer, padded.buffer, shape, strides, offset);
    return [padded];
  });
}

/**
 * Writes `parts` one after another along `axis` of a new tensor; `partShapes[k]` is the shape part
 * k takes in the output's rank (stack inserts a size-1 dim without making a view).
 */
function joinAlong(parts: Tensor[], partShapes: number[][], axis: number): Tensor {
  let total = 0;
  const starts = partShapes.map((s) => (total += s[axis]) - s[axis]);
  const shape = partShapes[0].map((d, i) => (i === axis ? total : d));
  const strides = contiguousStrides(shape);
  const y = new Tensor(shape, parts[0].dtype);
  parts.forEach((t, k) => {
    stridedScatter(t.buffer, y.buffer, partShapes[k], strides, starts[k] * strides[axis]);
  });
  return y;
}

function checkJoinable(op: string, tensors: Tensor[], axis: number | null): void {
  if (tensors.length === 0) throw new Error(`${op}: needs at least one tensor`);
  const first = tensors[0];
  for (const t of tensors) {
    checkFourByte(op, t);
    const sameShape = t.rank === first.rank &&
      t.shape.every((d, i) => i === axis || d === first.shape[i]);
    if (!sameShape || t.dtype !== first.dtype) {
      const except = axis === null ? "" : ` outside axis ${axis}`;
      throw new Error(`${op}: ${t} does not match ${first}${except}`);
    }
  }
}

/** Joins tensors of equal shape except along `axis` (negative allowed); gradients are slices. */
export function concat(tensors: Tensor[], axis: number): Tensor {
  const ax = resolveAxis("concat", axis, tensors[0]?.rank ?? 0);
  checkJoinable("concat", tensors, ax);
  const y = joinAlong(tensors, tensors.map((t) => [...t.shape]), ax);
  return attach(y, "concat", tensors, (g) => {
    const grads: (Tensor | null)[] = [];
    let start = 0;
    for (const t of tensors) {
      grads.push(t.requiresGrad ? slice(g, ax, start, start + t.shape[ax]) : null);
      start += t.shape[ax];
    }
    return grads;
  });
}

/** Stacks tensors of one shape along a new dim `axis` (in the output's rank). */
export function stack(tensors: Tensor[], axis: number): Tensor {
  const ax = resolveAxis("stack", axis, (tensors[0]?.rank ?? 0) + 1);
  checkJoinable("stack", tensors, null);
  const shape = [...tensors[0].shape];
  const partShape = [...shape.slice(0, ax), 1, ...shape.slice(ax)];
  const y = joinAlong(tensors, tensors.map(() => partShape), ax);
  return attach(y, "stack", tensors, (g) =>
    tensors.map((t, k) => {
      if (!t.requiresGrad) return null;
      const part = slice(g, ax, k, k + 1);
      const view = part.reshape(shape);
      part.dispose(); // the view keeps the storage alive
      return view;
    }));
}

/** Inserts a size-1 dim at `axis` (in the output's rank, so −1 appends); a view. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = resolveAxis("unsqueeze", axis, x.rank + 1);
  return x.reshape([...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

/** Removes the size-1 dim `axis`, or every size-1 dim when `axis` is omitted; a view. */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return x.reshape(x.shape.filter((d) => d !== 1));
  const ax = resolveAxis("squeeze", axis, x.rank);
  if (x.shape[ax] !== 1) throw new Error(`squeeze: dim ${axis} of [${x.shape}] is not 1`);
  return x.reshape(x.shape.filter((_, i) => i !== ax));
}
