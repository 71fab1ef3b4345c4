/**
 * Reductions over axes (sum, mean, max) and `sumTo`, which folds a broadcast gradient back to
 * its input's shape.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { sizeOf, Tensor } from "../tensor.ts";
import { withScratch } from "../buffer_pool.ts";
import { reduce, type ReduceOp } from "../../kernels/reduce.wgsl.ts";
import { broadcastTo } from "./shape.ts";
import { mapBinary, mapUnary } from "./elementwise.ts";

/** Axes to reduce: one axis, a list, or all when omitted; negative axes count from the end. */
export type Axes = number | number[] | undefined;

/** Normalises axes against a rank: sorted, unique, non-negative, validated. */
export function normalizeAxes(axes: Axes, rank: number): number[] {
  const list = axes === undefined
    ? [...Array(rank).keys()]
    : typeof axes === "number"
    ? [axes]
    : axes;
  const out = list.map((a) => {
    const n = a < 0 ? a + rank : a;
    if (!Number.isInteger(n) || n < 0 || n >= rank) {
      throw new Error(`axis ${a} is out of range for rank ${rank}`);
    }
    return n;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

/** A view of `x` with a new shape that takes over x's reference (x is disposed). */
function reshapeOwned(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshape(shape);
  x.dispose();
  return y;
}

function reducedShape(shape: readonly number[], axes: number[], keepDims: boolean): number[] {
  return keepDims
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

/** Sorted axes grouped into runs of neighbours: [0, 1, 3] → [[0, 1], [3]]. */
function axisRuns(axes: number[]): number[][] {
  const runs: number[][] = [];
  for (const a of axes) {
    const last = runs.at(-1);
    if (last && last.at(-1) === a - 1) last.push(a);
    else runs.push([a]);
  }
  return runs;
}

/** Reduces over `axes` without recording a node; the result keeps size-1 dims. */
function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  if (x.dtype !== "f32") throw new Error(`${op}: expected an f32 tensor, got ${x.dtype}`);
  let current = x;
  let shape = [...x.shape];
  // Neighbouring axes are one reduction over their product: [B, T, D] → [D] is a single pass.
  for (const run of axisRuns(axes).toReversed()) {
    const outer = sizeOf(shape.slice(0, run[0]));
    const inner = sizeOf(shape.slice(run.at(-1)! + 1));
    const r = sizeOf(run.map((a) => shape[a]));
    shape = shape.map((d, i) => (run.includes(i) ? 1 : d));
    const y = new Tensor(shape, "f32");
    const source = current;
    withScratch((lend) => reduce(op, source.buffer, y.buffer, outer, r, inner, lend));
    if (current !== x) current.dispose();
    current = y;
  }
  return current === x ? x.detach() : current;
}

/** Sum over axes (all by default). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const kept = reduceRaw("sum", x, ax);
  const y = keepDims ? kept : reshapeOwned(kept, reducedShape(x.shape, ax, false));
  return attach(y, "sum", [x], (g) => [broadcastTo(g.reshape(keptShape), x.shape)]);
}

/** Mean over axes (all by default). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const kept = reduceRaw("sum", x, ax);
  const scaled = mapUnary("mul_s", kept, 1 / count);
  const keptShape = kept.shape;
  kept.dispose();
  const y = keepDims ? scaled : reshapeOwned(scaled, reducedShape(x.shape, ax, false));
  return attach(
    y,
    "mean",
    [x],
    (g) => [broadcastTo(mapUnary("mul_s", g, 1 / count).reshape(keptShape), x.shape)],
  );
}

/** Maximum over axes; the gradient is shared equally among tied maxima. */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const kept = reduceRaw("max", x, ax);
  const keptShape = kept.shape;
  const y = keepDims ? kept : reshapeOwned(kept, reducedShape(x.shape, ax, false));
  return attach(y, "max", [x], (g) => {
    const isMax = mapBinary("eq", x, y.reshape(keptShape));
    const ties = reduceRaw("sum", isMax, ax);
    const share = mapBinary("div", g.reshape(keptShape), ties);
    return [mapBinary("mul", isMax, share)];
  });
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
