/**
 * The k-means assignment step with its product on the GPU: the points [n, dim] are uploaded once,
 * each call uploads the centroids [k, dim], computes x·cᵀ [n, k] with the project's matmul and
 * reads it back (one sync per Lloyd iteration); ‖x‖² − 2·x·c + ‖c‖² and the argmin over k are
 * finished on the CPU in f64.
 *
 * @module
 */
import { type Tensor, tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { matmul } from "../ops/matmul.ts";
import type { Points } from "./points.ts";
import { type Assigner, assignFromProducts, type Assignment, rowNorms } from "./kmeans.ts";

/** A GPU assigner for `x`; call `dispose` to free the uploaded points. */
export function gpuAssigner(x: Points): { assign: Assigner; dispose: () => void } {
  const points: Tensor = tensor(x.data, [x.n, x.dim]);
  const xNorm = rowNorms(x);
  const assign = async (centroids: Points): Promise<Assignment> => {
    const k = centroids.n;
    const c = tensor(centroids.data, [k, x.dim]);
    const product = noGrad(() => matmul(points, c, { transB: true }));
    const cross = await product.data();
    product.dispose();
    c.dispose();
    return assignFromProducts(xNorm, rowNorms(centroids), cross);
  };
  return { assign, dispose: () => points.dispose() };
}
