/**
 * Softmax and log-softmax over the last axis, each one fused kernel forward and one backward, with
 * an optional additive mask (no gradient) that broadcasts to the scores.
 *
 * Masking rule: a score whose x + mask is at or below −1e8 (e.g. a mask of −1e9 or −Infinity)
 * is masked out and gets probability exactly 0. A row whose scores are all masked out gets
 * softmax 0 everywhere (PyTorch gives NaN), and log-softmax x + mask there.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import { softmaxBackward, softmaxForward } from "../../kernels/softmax.wgsl.ts";

function checkInputs(op: string, x: Tensor, mask: Tensor | undefined): void {
  if (x.dtype !== "f32") throw new Error(`${op}: expected f32 scores, got ${x}`);
  if (x.rank === 0) throw new Error(`${op}: needs at least one axis, got a scalar`);
  if (!mask) return;
  if (mask.dtype !== "f32") throw new Error(`${op}: expected an f32 additive mask, got ${mask}`);
  const lead = x.rank - mask.rank;
  if (lead < 0 || mask.shape.some((d, i) => d !== 1 && d !== x.shape[lead + i])) {
    throw new Error(`${op}: mask [${mask.shape}] does not broadcast to scores [${x.shape}]`);
  }
}

function rowSoftmax(op: string, x: Tensor, mask: Tensor | undefined, log: boolean): Tensor {
  checkInputs(op, x, mask);
  const y = new Tensor(x.shape, "f32");
  const maskBuffer = mask ? { buffer: mask.buffer, shape: mask.shape } : null;
  softmaxForward(x.buffer, x.shape, maskBuffer, y.buffer, log);
  const cols = x.shape[x.rank - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  return attach(y, op, [x], (g) => {
    const dx = new Tensor(x.shape, "f32");
    softmaxBackward(y.buffer, g.buffer, dx.buffer, rows, cols, log);
    return [dx];
  });
}

/**
 * softmax(x + mask) over the last axis. `mask` is additive (0 keeps, −1e9 or −Infinity hides)
 * and broadcasts to x, e.g. [B, 1, 1, S] key padding or [T, S] causal for x [B, H, T, S].
 * Backward: dx = y·(g − Σ g·y); the mask gets no gradient.
 */
export function softmax(x: Tensor, mask?: Tensor): Tensor {
  return rowSoftmax("softmax", x, mask, false);
}

/**
 * log softmax(x + mask) over the last axis, with the mask rules of {@linkcode softmax}.
 * Backward: dx = g − softmax·Σ g.
 */
export function logSoftmax(x: Tensor, mask?: Tensor): Tensor {
  return rowSoftmax("logSoftmax", x, mask, true);
}
