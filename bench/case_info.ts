/**
 * Names, shape labels and work counts of every case, shared by ours and the peers so that their
 * records line up (same name and shape) and their rates count the same work.
 *
 * @module
 */
import type { CaseInfo, Group } from "./harness.ts";
import { type BenchShapes, matmulFlops, matmulLabel } from "./shapes.ts";

/** Every case's info at the given shapes. */
export interface CaseInfos {
  matmul: CaseInfo[];
  add: CaseInfo;
  softmaxFwd: CaseInfo;
  softmaxFwdBwd: CaseInfo;
  layerNormFwd: CaseInfo;
  layerNormFwdBwd: CaseInfo;
  crossEntropyFwdBwd: CaseInfo;
  attention: CaseInfo;
  adamw: CaseInfo;
  mlpStep: (group: Group) => CaseInfo;
  transformerStep: (group: Group) => CaseInfo;
  absaStep: (group: Group) => CaseInfo;
}

/** Elements updated by the AdamW case. */
export function adamElements(s: BenchShapes): number {
  return s.adamParams.reduce((n, [r, c]) => n + r * c, 0);
}

/** The infos of all cases. Bytes count each f32 read and write once. */
export function caseInfos(s: BenchShapes): CaseInfos {
  const rows = `${s.rows}×${s.cols}`;
  const elems = s.rows * s.cols;
  const k = (name: string, shape: string, more: Partial<CaseInfo> = {}): CaseInfo => ({
    group: "kernels",
    name,
    shape,
    ...more,
  });
  const { batch, heads, seq, headDim } = s.attention;
  const m = s.mlp;
  const t = s.transformer;
  const a = s.absa;
  const params = adamElements(s);
  return {
    matmul: s.matmuls.map((mm) => k("matmul", matmulLabel(mm), { flops: matmulFlops(mm) })),
    add: k("add", `${s.addElements}`, { bytes: 12 * s.addElements }),
    softmaxFwd: k("softmax fwd", rows, { bytes: 8 * elems }),
    // Forward (read x, write y) and backward (read y and dy, write dx).
    softmaxFwdBwd: k("softmax fwd+bwd", rows, { bytes: 20 * elems }),
    layerNormFwd: k("layerNorm fwd", rows, { bytes: 8 * elems }),
    layerNormFwdBwd: k("layerNorm fwd+bwd", rows, { bytes: 20 * elems }),
    // Read logits, then read them again and write dlogits.
    crossEntropyFwdBwd: k("crossEntropy fwd+bwd", rows, { bytes: 12 * elems }),
    attention: k("attention scores+softmax", `${batch}×${heads}×${seq}×${seq} (d ${headDim})`, {
      flops: 2 * batch * heads * seq * seq * headDim,
    }),
    // Reads p, g, m, v and writes p, m, v.
    adamw: k("AdamW update", `${(params / 1e6).toPrecision(3)} M params`, { bytes: 28 * params }),
    mlpStep: (group) => ({
      group,
      name: "mlp step",
      shape: `${m.batch}×${m.inputs}→${m.hidden}→${m.outputs}`,
      tokens: m.batch,
    }),
    transformerStep: (group) => ({
      group,
      name: "transformer step",
      shape: `${t.layers}L d${t.dim} h${t.heads} seq${t.seq} b${t.batch}`,
      tokens: t.batch * t.seq,
    }),
    absaStep: (group) => ({
      group,
      name: "train:absa step",
      shape: `${a.layers}L d${a.dim} m${a.memory} V${a.vocab} b${a.batch}×${a.tokens} tok`,
      tokens: a.batch * a.tokens,
    }),
  };
}
