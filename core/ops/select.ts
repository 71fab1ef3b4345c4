/**
 * Selection ops: `where`, `maskedFill` and `dropout`. Gradients pass through the selected branch
 * only; dropout's backward regenerates its mask from the seed.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { full, Tensor } from "../tensor.ts";
import { nextSeed } from "../random.ts";
import { dropoutMask, where as whereKernel } from "../../kernels/select.wgsl.ts";
import { broadcastShapes, sumTo } from "./broadcast.ts";

/** Selects without recording a node; a number operand becomes a scalar of the other's dtype. */
function selectRaw(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const y = new Tensor(shape, a.dtype);
  whereKernel(cond.buffer, cond.shape, a.buffer, a.shape, b.buffer, b.shape, y.buffer, shape);
  return y;
}

/**
 * `cond ≠ 0 ? a : b` elementwise with broadcasting over all three. `cond` is an f32 0/1 mask;
 * `a` and `b` are f32 or i32 tensors of one dtype, or numbers. Each branch's gradient is the
 * output gradient where it was chosen and 0 elsewhere (so `-Infinity` fills stay NaN-free).
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  if (cond.dtype !== "f32") throw new Error(`where: cond must be an f32 0/1 mask, got ${cond}`);
  const dtype = typeof a !== "number" ? a.dtype : typeof b !== "number" ? b.dtype : "f32";
  if (dtype === "f16") throw new Error("where: f16 tensors are not supported; cast first");
  const ta = typeof a === "number" ? full([], a, dtype) : a;
  const tb = typeof b === "number" ? full([], b, dtype) : b;
  if (ta.dtype !== tb.dtype) throw new Error(`where: ${ta} and ${tb} differ in dtype`);
  const y = selectRaw(cond, ta, tb);
  // Scalars made from numbers take no gradient and the backward rule never reads them.
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return attach(y, "where", [ta, tb], (g) => {
    const zero = full([], 0, g.dtype);
    const grads = [
      ta.requiresGrad ? sumTo(selectRaw(cond, g, zero), ta.shape) : null,
      tb.requiresGrad ? sumTo(selectRaw(cond, zero, g), tb.shape) : null,
    ];
    zero.dispose();
    return grads;
  });
}

/** `x` with `value` wherever `mask` (f32 0/1, broadcast against `x`) is 1. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}

/** Options of {@linkcode dropout}. */
export interface DropoutOptions {
  /** Seed of the mask; without it a fresh one is drawn from the global stream (`manualSeed`). */
  seed?: number;
  /** Dropout applies only in training (default true); otherwise the op is the identity. */
  training?: boolean;
}

/**
 * Zeroes each element with probability `p` and scales the kept ones by 1/(1−p). The mask comes
 * from a counter-based hash of (seed, index) computed on the GPU, so one seed gives one mask on
 * every run and the backward pass reuses it without storing it.
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must lie in [0, 1], got ${p}`);
  if (x.dtype !== "f32") throw new Error(`dropout: expected an f32 tensor, got ${x}`);
  if (options.training === false || p === 0) return x.reshape(x.shape);
  const seed = options.seed ?? nextSeed();
  const threshold = Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const apply = (t: Tensor) => {
    const y = new Tensor(t.shape, "f32");
    dropoutMask(t.buffer, y.buffer, t.size, seed, threshold, scale);
    return y;
  };
  return attach(apply(x), "dropout", [x], (g) => [apply(g)]);
}
