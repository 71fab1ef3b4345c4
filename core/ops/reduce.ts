/**
 * Reductions over axes (sum, mean, max); `sumTo`, the reverse of broadcasting, lives with
 * `broadcastTo` in broadcast.ts.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { broadcastTo } from "./broadcast.ts";
import { mapBinary, mapUnary } from "./elementwise.ts";
import { reduceRaw } from "./reduce_raw.ts";

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
