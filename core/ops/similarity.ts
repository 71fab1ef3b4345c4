/**
 * Similarity of vectors, composed of existing ops (their gradients come from those ops).
 *
 * @module
 */
import { full, type Tensor } from "../tensor.ts";
import { broadcastShapes, broadcastTo } from "./broadcast.ts";
import { div, maximum, mul, sqrt } from "./elementwise.ts";
import { normalizeAxes, sum } from "./reduce.ts";

/**
 * Cosine similarity along `axis` of the broadcast of a and b, as PyTorch:
 * a·b / (max(‖a‖, eps)·max(‖b‖, eps)). The axis is removed from the result.
 */
export function cosineSimilarity(a: Tensor, b: Tensor, axis = -1, eps = 1e-8): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const [ax] = normalizeAxes(axis, shape.length);
  const sameShape = (t: Tensor) => t.shape.join() === shape.join();
  const x = sameShape(a) ? a : broadcastTo(a, shape);
  const y = sameShape(b) ? b : broadcastTo(b, shape);
  // max(√s, eps) as √max(s, eps²): √ is never taken of 0, so zero vectors get no NaN gradient.
  const floor = full([], eps * eps);
  const norm = (t: Tensor) => sqrt(maximum(sum(mul(t, t), ax), floor));
  return div(sum(mul(x, y), ax), mul(norm(x), norm(y)));
}
