/**
 * The shapes every implementation is measured on — ours and the peers' read the same table, so a
 * ratio always compares equal work. `tiny` shrinks each case to seconds-free sizes for the test.
 *
 * @module
 */

/** One matmul case: C[batch?, m, n] = A[m, k] · B[k, n]. */
export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  /** Number of independent products (batched matmul); 1 for a plain 2-D product. */
  batch: number;
}

/** Attention scores: softmax(Q·Kᵀ·scale + mask) over [batch·heads, seq, seq]. */
export interface AttentionShape {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
}

/** The MLP training step: x[batch, inputs] → hidden → outputs, MSE against a target. */
export interface MlpShape {
  batch: number;
  inputs: number;
  hidden: number;
  outputs: number;
}

/** The transformer encoder training step on random embeddings, MSE against a target. */
export interface TransformerShape {
  batch: number;
  seq: number;
  dim: number;
  heads: number;
  layers: number;
  /** MLP hidden width. */
  hidden: number;
}

/** The `train:absa` training step at the task's default model size, on synthetic sentences. */
export interface AbsaStepShape {
  batch: number;
  /** Sentence tokens per example. */
  tokens: number;
  /** Aspects per sentence. */
  aspects: number;
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
  memory: number;
  /** Sentences per batch that also get the reconstruction/extraction losses. */
  generativeRows: number;
}

/** All bench shapes. */
export interface BenchShapes {
  matmuls: MatmulShape[];
  /** Elements of each operand of the bandwidth-bound add. */
  addElements: number;
  /** Rows × columns of the softmax / layerNorm / crossEntropy inputs. */
  rows: number;
  cols: number;
  attention: AttentionShape;
  /** Parameter tensors updated by AdamW, as [rows, cols] each. */
  adamParams: [number, number][];
  mlp: MlpShape;
  transformer: TransformerShape;
  absa: AbsaStepShape;
}

/** The shapes of the engine issue (full) or a tiny version of each (for the smoke test). */
export function benchShapes(tiny = false): BenchShapes {
  if (tiny) {
    return {
      matmuls: [{ m: 33, k: 17, n: 9, batch: 1 }, { m: 8, k: 5, n: 8, batch: 3 }],
      addElements: 1000,
      rows: 7,
      cols: 33,
      attention: { batch: 2, heads: 2, seq: 5, headDim: 4 },
      adamParams: [[10, 10], [3, 7]],
      mlp: { batch: 8, inputs: 6, hidden: 10, outputs: 4 },
      transformer: { batch: 2, seq: 5, dim: 8, heads: 2, layers: 2, hidden: 16 },
      absa: {
        batch: 3,
        tokens: 6,
        aspects: 2,
        vocab: 40,
        dim: 8,
        layers: 1,
        heads: 2,
        hidden: 16,
        memory: 2,
        generativeRows: 2,
      },
    };
  }
  return {
    matmuls: [
      { m: 1024, k: 1024, n: 1024, batch: 1 },
      { m: 4096, k: 256, n: 256, batch: 1 },
      { m: 4096, k: 256, n: 1024, batch: 1 },
      { m: 4096, k: 1024, n: 256, batch: 1 },
      { m: 128, k: 64, n: 128, batch: 64 },
      // Attention's P·V over 768 tokens at head dim 32 (latent-QA's context encoder): few columns.
      { m: 768, k: 768, n: 32, batch: 32 },
    ],
    addElements: 16 * 1024 * 1024,
    rows: 4096,
    cols: 1024,
    attention: { batch: 32, heads: 4, seq: 64, headDim: 64 },
    adamParams: Array.from({ length: 10 }, () => [1000, 1000] as [number, number]),
    mlp: { batch: 4096, inputs: 256, hidden: 1024, outputs: 256 },
    transformer: { batch: 32, seq: 64, dim: 256, heads: 4, layers: 2, hidden: 1024 },
    // train:absa defaults on MAMS-ATSA: 29 tokens and ~2.6 aspects per sentence, vocab 25060 →
    // 25064 (WordPiece plus GloVe words).
    absa: {
      batch: 32,
      tokens: 29,
      aspects: 3,
      vocab: 25064,
      dim: 128,
      layers: 2,
      heads: 4,
      hidden: 512,
      memory: 8,
      generativeRows: 8,
    },
  };
}

/** "64×128×64×128"-style label of a matmul: batch×m×k×n, batch omitted when 1. */
export function matmulLabel(s: MatmulShape): string {
  const mkn = `${s.m}×${s.k}×${s.n}`;
  return s.batch === 1 ? mkn : `${s.batch}×(${s.m}×${s.k} @ ${s.k}×${s.n})`;
}

/** Floating-point operations of a matmul (2·m·k·n per product). */
export function matmulFlops(s: MatmulShape): number {
  return 2 * s.batch * s.m * s.k * s.n;
}
