/**
 * Layer norm and RMS norm over the last axis: one fused kernel forward (which also keeps the
 * per-row mean and rstd) and one fused kernel for dx; weight and bias gradients are column sums.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { Tensor } from "../tensor.ts";
import {
  normBackward,
  normForward,
  type NormKind,
  normParamGradChunks,
  paramGradChunkCount,
} from "../../kernels/norm.wgsl.ts";
import { sumTo } from "./broadcast.ts";

function checkParam(op: string, name: string, p: Tensor | undefined, cols: number): void {
  if (p && (p.dtype !== "f32" || p.size !== cols || p.rank !== 1)) {
    throw new Error(`${op}: ${name} must be f32 [${cols}], got ${p}`);
  }
}

function normalize(
  op: string,
  kind: NormKind,
  x: Tensor,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  eps: number,
): Tensor {
  if (x.dtype !== "f32" || x.rank === 0) {
    throw new Error(`${op}: expected f32 input with at least one axis, got ${x}`);
  }
  const cols = x.shape[x.rank - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  checkParam(op, "weight", weight, cols);
  checkParam(op, "bias", bias, cols);
  const y = new Tensor(x.shape, "f32");
  const stats = new Tensor([rows, 2], "f32");
  normForward(
    kind,
    x.buffer,
    weight?.buffer ?? null,
    bias?.buffer ?? null,
    y.buffer,
    stats.buffer,
    rows,
    cols,
    eps,
  );
  const params = [weight, bias].filter((p): p is Tensor => p !== undefined);
  return attach(y, op, [x, ...params], (g) => {
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = new Tensor(x.shape, "f32");
      normBackward(
        kind,
        x.buffer,
        weight?.buffer ?? null,
        g.buffer,
        stats.buffer,
        dx.buffer,
        rows,
        cols,
      );
    }
    if (!params.some((p) => p.requiresGrad)) return [dx, null, null];
    const chunks = paramGradChunkCount(rows);
    const dwParts = new Tensor([chunks, cols], "f32");
    const dbParts = new Tensor([chunks, cols], "f32");
    normParamGradChunks(
      x.buffer,
      g.buffer,
      stats.buffer,
      dwParts.buffer,
      dbParts.buffer,
      rows,
      cols,
    );
    const dw = weight ? sumTo(dwParts, [cols]) : null;
    const db = bias ? sumTo(dbParts, [cols]) : null;
    dwParts.dispose();
    dbParts.dispose();
    return weight ? [dx, dw, db] : [dx, db];
  });
}

/**
 * (x − mean)/√(var + eps)·weight + bias over the last axis (biased variance, as PyTorch);
 * weight and bias are optional [D] vectors.
 */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  return normalize("layerNorm", "layer", x, weight, bias, eps);
}

/** x/√(mean(x²) + eps)·weight over the last axis; weight is an optional [D] vector. */
export function rmsNorm(x: Tensor, weight?: Tensor, eps = 1e-6): Tensor {
  return normalize("rmsNorm", "rms", x, weight, undefined, eps);
}
