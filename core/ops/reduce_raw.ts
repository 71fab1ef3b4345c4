/**
 * The reduction kernels behind `sum`, `mean`, `max` and `sumTo`, without autograd: reduces over
 * sorted axes, one pass per run of neighbouring axes.
 *
 * @module
 */
import { sizeOf, Tensor } from "../tensor.ts";
import { withScratch } from "../buffer_pool.ts";
import { reduce, type ReduceOp } from "../../kernels/reduce.wgsl.ts";

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
export function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
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
