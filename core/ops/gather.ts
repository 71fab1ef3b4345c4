/**
 * The gather family (indexing): `gatherRows` and `embedding` gather rows, and their backward
 * scatter-adds the output gradient into a table-shaped gradient, accumulating repeated indices;
 * `scatterRows` is that scatter-add as a forward op, and its backward is the gather.
 *
 * Out-of-range indices (negative or ≥ the number of rows) read as zero rows and receive no
 * gradient: the kernel checks bounds instead of clamping, so a bad id shows up as a zero vector
 * rather than silently aliasing the last row.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor, zeros } from "../tensor.ts";
import { gatherRows as gatherKernel, scatterAddRows } from "../../kernels/gather.wgsl.ts";

/**
 * Sums rows of `g` ([m, d]) into a new [rows, d] tensor by `index` ([m] i32), plus `base` when
 * given (the gradient accumulated so far, added in the same pass); no node.
 */
function scatterAdd(
  g: Tensor,
  index: Tensor,
  rows: number,
  d: number,
  base: Tensor | null,
): Tensor {
  const out = new Tensor([rows, d], "f32");
  const counts = zeros([rows], "i32");
  const offsets = new Tensor([rows + 1], "i32");
  const order = new Tensor([index.size], "i32");
  scatterAddRows(g.buffer, index.buffer, index.size, d, rows, out.buffer, {
    counts: counts.buffer,
    offsets: offsets.buffer,
    order: order.buffer,
  }, base?.buffer);
  for (const t of [counts, offsets, order]) t.dispose();
  return out;
}

/** The gather of [rows, d] `g` by `index` into [index.size, d]; no node. */
function gatherRaw(g: Tensor, index: Tensor, rows: number, d: number): Tensor {
  const y = new Tensor([index.size, d], g.dtype);
  gatherKernel(g.buffer, rows, d, index.buffer, index.size, y.buffer);
  return y;
}

/** Gathers rows of `x` by every element of `index` (i32, any shape) into `outShape`. */
function gather(op: string, x: Tensor, index: Tensor, outShape: number[]): Tensor {
  const [rows, d] = x.shape;
  const y = new Tensor(outShape, x.dtype);
  gatherKernel(x.buffer, rows, d, index.buffer, index.size, y.buffer);
  return attach(y, op, [x], (g, accumulated) => [
    scatterAdd(g, index, rows, d, accumulated.take(0)),
  ]);
}

/**
 * Rows of `x` ([N, D], f32 or i32) picked by `index` (i32 [M]) → [M, D]. The gradient of `x`
 * sums the output gradient's rows per index.
 */
export function gatherRows(x: Tensor, index: Tensor): Tensor {
  if (x.rank !== 2 || x.dtype === "f16") {
    throw new Error(`gatherRows: x must be a 2-D f32 or i32 tensor, got ${x}`);
  }
  if (index.rank !== 1 || index.dtype !== "i32") {
    throw new Error(`gatherRows: index must be a 1-D i32 tensor, got ${index}`);
  }
  return gather("gatherRows", x, index, [index.size, x.shape[1]]);
}

/**
 * Looks up `ids` (i32, any shape) in `weight` ([V, D] f32) → [...ids.shape, D]. Repeated ids
 * accumulate their gradients; ids outside [0, V) give zero vectors (see the module note).
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2 || weight.dtype !== "f32") {
    throw new Error(`embedding: weight must be a [V, D] f32 tensor, got ${weight}`);
  }
  if (ids.dtype !== "i32") throw new Error(`embedding: ids must be i32, got ${ids}`);
  return gather("embedding", weight, ids, [...ids.shape, weight.shape[1]]);
}

/**
 * Sums the rows of `values` ([M, D] f32) into a new [rows, D] tensor at `index` ([M] i32):
 * `out[index[m]] += values[m]`, repeated indices accumulating in a fixed order (deterministic).
 * Indices outside [0, rows) are dropped. The gradient of `values` gathers the output gradient's
 * rows by `index` (zero for dropped ones).
 */
export function scatterRows(values: Tensor, index: Tensor, rows: number): Tensor {
  if (values.rank !== 2 || values.dtype !== "f32") {
    throw new Error(`scatterRows: values must be a 2-D f32 tensor, got ${values}`);
  }
  if (index.rank !== 1 || index.dtype !== "i32" || index.size !== values.shape[0]) {
    throw new Error(
      `scatterRows: index must be a 1-D i32 tensor of ${values.shape[0]} ids, got ${index}`,
    );
  }
  if (!Number.isInteger(rows) || rows < 1) {
    throw new Error(`scatterRows: rows must be a positive integer, got ${rows}`);
  }
  const d = values.shape[1];
  const out = scatterAdd(values, index, rows, d, null);
  return attach(out, "scatterRows", [values], (g) => [gatherRaw(g, index, rows, d)]);
}
