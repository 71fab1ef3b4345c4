/**
 * Stage-3 data: per question, all its candidate documents (HotpotQA distractor setting: the
 * example's paragraphs), the gold ones marked, the prompt and the answer target; and the frozen
 * memories of the candidates, computed once per example under no gradient (never re-encoded per
 * step), kept on the host with their per-candidate means.
 *
 * @module
 */
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { InstructionRecord } from "./stage_records.ts";
import { documentIds, promptIds, targetIds } from "./tokens.ts";

/** One question with all its candidates. */
export interface E2EExample {
  question: string;
  answer: string;
  /** Candidate documents' ids (each cut to the document budget). */
  candidates: number[][];
  /** Indices of the gold candidates (non-empty). */
  gold: number[];
  prompt: number[];
  target: number[];
}

/** The example of an instruction record; `null` when it has no gold document. */
export function e2eExample(
  tokenizer: TextTokenizer,
  r: InstructionRecord,
  docTokens: number,
  answerTokens: number,
): E2EExample | null {
  if (r.pos_index.length === 0 || r.docs.length === 0) return null;
  return {
    question: r.question,
    answer: r.answer,
    candidates: r.docs.map((d) => documentIds(tokenizer, d, docTokens)),
    gold: [...r.pos_index],
    prompt: promptIds(tokenizer, r.question),
    target: targetIds(tokenizer, r.answer, answerTokens),
  };
}

/** Frozen memories of one example's candidates, on the host. */
export interface HostMemories {
  /** [N, l, D] row-major. */
  memory: Float32Array;
  /** [N, D]: the mean over the l memory vectors of each candidate. */
  means: Float32Array;
  n: number;
  l: number;
  d: number;
}

/** The host memories of n candidates from their memory values [n, l, d], with their means. */
export function hostMemoryOf(memory: Float32Array, n: number, l: number, d: number): HostMemories {
  const means = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < l; j++) {
      for (let c = 0; c < d; c++) means[i * d + c] += memory[(i * l + j) * d + c] / l;
    }
  }
  return { memory, means, n, l, d };
}

/**
 * The memories of each example's candidates: l = the model's count for `docTokens` (one l for
 * all, so examples batch together), compressed `perCall` documents at a time under no gradient.
 */
export async function hostMemories(
  model: MemoryLM,
  examples: readonly E2EExample[],
  docTokens: number,
  onProgress?: (done: number) => void,
): Promise<HostMemories[]> {
  model.eval();
  const l = model.memoryCount(docTokens);
  const d = model.config.dim;
  const out: HostMemories[] = [];
  for (const e of examples) {
    const t = noGrad(() => tidy(() => model.compress(e.candidates, l)));
    const memory = await t.data() as Float32Array;
    t.dispose();
    out.push(hostMemoryOf(memory, e.candidates.length, l, d));
    onProgress?.(out.length);
  }
  return out;
}

/** Device tensors of a batch's memories (same N): memories [B, N, l, D], means [B, N, D]. */
export function batchMemories(
  memories: readonly HostMemories[],
): { memories: Tensor; means: Tensor } {
  const { n, l, d } = memories[0];
  if (memories.some((m) => m.n !== n || m.l !== l)) {
    throw new Error("batchMemories: examples of one batch need the same candidates and l");
  }
  const b = memories.length;
  const all = new Float32Array(b * n * l * d);
  const means = new Float32Array(b * n * d);
  memories.forEach((m, i) => {
    all.set(m.memory, i * n * l * d);
    means.set(m.means, i * n * d);
  });
  return { memories: tensor(all, [b, n, l, d]), means: tensor(means, [b, n, d]) };
}
