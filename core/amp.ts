/**
 * Mixed precision (automatic mixed precision, "AMP"): a switch under which matmuls round their
 * operands to f16 while packing them (half the bytes streamed, f16 arithmetic bandwidth on GPUs) and
 * accumulate and return f32. Parameters, activations between ops, reductions and gradients stay f32,
 * so user code is unchanged: wrap the forward pass in {@linkcode autocast}, or switch globally with
 * {@linkcode setPrecision}, and scale the loss with `optim.GradScaler` so that small gradients
 * survive f16's range.
 *
 * ```ts
 * const scaler = new optim.GradScaler();
 * const loss = amp.autocast(() => lossOf(model.forward(x), y));
 * scaler.scale(loss).backward();   // the backward matmuls follow the forward's precision
 * scaler.step(opt);                 // unscale, guard, update, adapt the scale: no sync
 * opt.zeroGrad();
 * ```
 *
 * On an adapter without `shader-f16` the mixed mode runs in f32 and says so once with a warning.
 *
 * @module
 */
import { info } from "./device.ts";

/** "f32": every op in f32. "mixed": matmul operands in f16, f32 accumulation and outputs. */
export type Precision = "f32" | "mixed";

let globalPrecision: Precision = "f32";
let autocastDepth = 0;
let f16Disabled = false;
let warnedNoF16 = false;

/** Sets the precision outside any {@linkcode autocast} scope (default "f32"). */
export function setPrecision(precision: Precision): void {
  if (precision !== "f32" && precision !== "mixed") {
    throw new Error(`setPrecision: expected "f32" or "mixed", got ${precision}`);
  }
  globalPrecision = precision;
}

/** The precision requested now: "mixed" inside {@linkcode autocast}, else the global setting. */
export function precision(): Precision {
  return autocastDepth > 0 ? "mixed" : globalPrecision;
}

/**
 * Runs `fn` in mixed precision and returns its result. An async `fn` keeps the mode until its
 * promise settles (other work started meanwhile sees it too, as with any global switch). Ops record
 * their precision when they run, so a `backward()` called after the scope still computes each
 * matmul's gradient in the precision of its forward.
 */
export function autocast<T>(fn: () => T): T {
  autocastDepth++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    autocastDepth--;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => autocastDepth--) as T;
  }
  autocastDepth--;
  return result;
}

/**
 * Treats the adapter as lacking `shader-f16` (true) or restores what the device reports (false):
 * for tests of the fallback and for f32/mixed comparisons on one machine. Re-arms the warning.
 */
export function disableF16Kernels(disabled: boolean): void {
  f16Disabled = disabled;
  warnedNoF16 = false;
}

/**
 * Whether an op running now should use f16 operands: mixed precision is requested and the device
 * has `shader-f16`. When it is requested but unavailable, warns once and answers false (f32).
 */
export function useHalfOperands(): boolean {
  if (precision() !== "mixed") return false;
  if (info().f16 && !f16Disabled) return true;
  if (!warnedNoF16) {
    warnedNoF16 = true;
    console.warn(
      "mixed precision: the WebGPU device has no shader-f16 feature; matmuls run in f32 instead",
    );
  }
  return false;
}
