/**
 * Shape ops that move data: broadcastTo, and (with the strided-copy kernel) permutations and slices.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { stridedCopy } from "../../kernels/copy.wgsl.ts";
import { broadcastStrides } from "../../kernels/elementwise.wgsl.ts";
import { broadcastShapes } from "./elementwise.ts";
import { sumTo } from "./reduce.ts";

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
