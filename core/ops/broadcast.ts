/**
 * Broadcasting: the shape rule, `broadcastTo` and its reverse `sumTo`, each the other's backward
 * (one file, so the pair needs no import cycle).
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { stridedCopy } from "../../kernels/copy.wgsl.ts";
import { broadcastStrides } from "../../kernels/elementwise.wgsl.ts";
import { reduceRaw } from "./reduce_raw.ts";

/** The shape two shapes broadcast to, or a clear error. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Materialises `x` broadcast to `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes(x.shape, shape);
  if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
    throw new Error(`cannot broadcast [${x.shape}] to [${shape}]`);
  }
  if (x.dtype === "f16") throw new Error("broadcastTo: f16 tensors are not supported; cast first");
  const y = new Tensor(shape, x.dtype);
  stridedCopy(x.buffer, y.buffer, shape, broadcastStrides(x.shape, shape));
  return attach(y, "broadcastTo", [x], (g) => [sumTo(g, x.shape)]);
}

/**
 * Sums a broadcast result back down to `shape` (the reverse of broadcasting). Backward: the
 * gradient broadcast back to x's shape. (Inside backward rules, which run without recording, it
 * is the plain reduction.)
 */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  const lead = x.rank - shape.length;
  const axes: number[] = [];
  x.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  if (axes.length === 0) return x.rank === shape.length ? x : x.reshape(shape);
  const y = reduceRaw("sum", x, axes).reshape(shape);
  return attach(y, "sumTo", [x], (g) => [broadcastTo(g, x.shape)]);
}
