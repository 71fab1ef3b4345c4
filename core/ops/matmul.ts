/**
 * Matrix product with transpose flags and broadcast batch dims; its backward reuses the same
 * product through the flags (no transposed copies are made).
 *
 * @module
 */
import { useHalfOperands } from "../amp.ts";
import { attach } from "../autograd.ts";
import { withScratch } from "../buffer_pool.ts";
import { sizeOf, Tensor } from "../tensor.ts";
import { matmulInto } from "../../kernels/matmul.wgsl.ts";
import { broadcastStrides } from "../../kernels/elementwise.wgsl.ts";
import { broadcastShapes, sumTo } from "./broadcast.ts";

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** Use Aᵀ: `a` is [..., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: `b` is [..., N, K]. */
  transB?: boolean;
}

function matrixDims(t: Tensor, trans: boolean, name: string): [number, number] {
  if (t.rank < 2) throw new Error(`matmul: ${name} must have rank ≥ 2, got [${t.shape}]`);
  if (t.dtype !== "f32") throw new Error(`matmul: ${name} must be f32, got ${t.dtype}`);
  const rows = t.shape[t.rank - 2];
  const cols = t.shape[t.rank - 1];
  return trans ? [cols, rows] : [rows, cols];
}

/** The product without recording a node; `half` rounds the operands to f16 (f32 sums). */
function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean, half: boolean): Tensor {
  const [M, K] = matrixDims(a, transA, "a");
  const [Kb, N] = matrixDims(b, transB, "b");
  if (K !== Kb) {
    throw new Error(
      `matmul: a [${a.shape}]${transA ? "ᵀ" : ""} and b [${b.shape}]${transB ? "ᵀ" : ""} ` +
        `disagree on the contracted dim (${K} vs ${Kb})`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  const out = new Tensor([...batch, M, N], "f32");
  // A shared B lets a row-major A's batch fold into M: one tall product instead of many.
  const fold = bBatch.length === 0 && !transA;
  const problem = {
    M: fold ? M * sizeOf(aBatch) : M,
    N,
    K,
    transA,
    transB,
    batchA: fold ? 1 : sizeOf(aBatch),
    batchB: sizeOf(bBatch),
    batchShape: fold ? [] : batch,
    aBatchStrides: fold ? [] : broadcastStrides(aBatch, batch),
    bBatchStrides: fold ? [] : broadcastStrides(bBatch, batch),
    half,
  };
  withScratch((lend) => matmulInto(a.buffer, b.buffer, out.buffer, problem, lend));
  return out;
}

/** Flattens the batch dims of a row-major operand into its rows: [..., R, C] → [R·…, C]. */
function flattenRows(t: Tensor): Tensor {
  return t.reshape([-1, t.shape[t.rank - 1]]);
}

/** Sums a gradient over broadcast batch dims, releasing the unreduced one. */
function reduceTo(grad: Tensor, shape: readonly number[]): Tensor {
  const reduced = sumTo(grad, shape);
  if (reduced !== grad) grad.dispose();
  return reduced;
}

/**
 * op(A)·op(B), where op transposes the last two dims when its flag is set: `a` is [..., M, K]
 * ([..., K, M] with `transA`), `b` is [..., K, N] ([..., N, K] with `transB`), and the leading
 * batch dims broadcast. Returns [...batch, M, N]. Under mixed precision (`amp.autocast`) the
 * operands are rounded to f16 and the sums kept in f32, forward and backward; the result is f32.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const half = useHalfOperands();
  const out = matmulRaw(a, b, transA, transB, half);
  return attach(out, "matmul", [a, b], (g) => {
    // With op(A) = A or Aᵀ: d op(A) = g·op(B)ᵀ and d op(B) = op(A)ᵀ·g; a transposed operand takes
    // the transpose of that, written as the swapped product.
    // A constant operand (a model input, an attention mask) gets no product at all.
    const gradA = !a.requiresGrad
      ? null
      : transA
      ? matmulRaw(b, g, transB, true, half)
      : matmulRaw(g, b, false, !transB, half);
    let gradB: Tensor | null;
    if (!b.requiresGrad) {
      gradB = null;
    } else if (b.rank === 2 && a.rank > 2 && !transA) {
      // B was shared across A's batch: contract over all rows at once instead of summing a batch.
      const a2 = flattenRows(a);
      const g2 = flattenRows(g);
      gradB = transB ? matmulRaw(g2, a2, true, false, half) : matmulRaw(a2, g2, true, false, half);
      a2.dispose();
      g2.dispose();
    } else {
      gradB = transB ? matmulRaw(g, a, true, transA, half) : matmulRaw(a, g, !transA, false, half);
    }
    return [gradA && reduceTo(gradA, a.shape), gradB && reduceTo(gradB, b.shape)];
  });
}
