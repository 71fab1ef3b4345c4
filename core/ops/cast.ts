/**
 * `cast`: converts a tensor's element type. Gradients flow through casts between float types
 * (cast back to the input's type) and stop at i32.
 *
 * f16 tensors work on any adapter: the cast kernels convert on the bits, so only kernels that
 * compute in f16 need the device's `shader-f16` feature (`device.info().f16`).
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { type DType, Tensor } from "../tensor.ts";
import { castBuffer } from "../../kernels/cast.wgsl.ts";

function castRaw(x: Tensor, dtype: DType): Tensor {
  const y = new Tensor(x.shape, dtype);
  castBuffer(x.buffer, x.dtype, y.buffer, dtype, x.size);
  return y;
}

/**
 * `x` converted to `dtype`. Floats to i32 truncate toward zero (saturating, NaN → 0); f32 to f16
 * rounds to nearest even and overflows to ±Infinity. Casting to the same dtype returns a view.
 */
export function cast(x: Tensor, dtype: "f32" | "i32" | "f16"): Tensor {
  if (x.dtype === dtype) return x.reshape(x.shape);
  const y = castRaw(x, dtype);
  if (x.dtype === "i32" || dtype === "i32") return y;
  return attach(y, "cast", [x], (g) => [g.dtype === x.dtype ? g : castRaw(g, x.dtype)]);
}
