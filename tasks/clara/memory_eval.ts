/**
 * Held-out measures of a memory model: teacher-forced token accuracy of targets read from
 * memories (SCP's reconstruction accuracy) and EM/F1 of greedy answers generated from memories.
 *
 * @module
 */
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { type QaScores, qaScores } from "../../core/metrics/qa.ts";
import { IGNORE_INDEX } from "../../datasets/batching.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { type MemoryExample, memoryLosses } from "./memory_batch.ts";
import { memoryBatches } from "./memory_training.ts";
import { answerFrom } from "./answer.ts";
import type { DocumentReader } from "./memory_batch.ts";
import { claraSpecial, decodeAnswer } from "./tokens.ts";

/**
 * Share of target tokens whose logit is the largest (greedy next-token accuracy under teacher
 * forcing), over `examples`; one readback per batch.
 */
export async function targetTokenAccuracy(
  model: MemoryLM,
  examples: readonly MemoryExample[],
  pad: number,
  batchSize: number,
): Promise<number> {
  if (examples.length === 0) throw new Error("targetTokenAccuracy: no examples");
  model.eval();
  let correct = 0, counted = 0;
  for (const rows of memoryBatches(examples, batchSize, 0)) {
    let labels: Int32Array = new Int32Array(0);
    const hits = noGrad(() =>
      tidy(() => {
        const l = memoryLosses(model, rows.map((i) => examples[i]), pad, { frozen: true });
        labels = l.hostLabels;
        const v = l.logits.shape[2];
        // Row r's label logit sits at r·V + label of the flattened logits (ignored rows read
        // column 0 and are not counted); max returns one of the row's values exactly.
        const index = Int32Array.from(labels, (y, r) => r * v + Math.max(0, y));
        const flat = l.logits.reshape([labels.length * v, 1]);
        return ops.eq(
          ops.gatherRows(flat, tensor(index, [index.length], "i32")).reshape([labels.length]),
          ops.max(l.logits.reshape([labels.length, v]), -1),
        );
      })
    );
    const h = await hits.data();
    hits.dispose();
    labels.forEach((label, i) => {
      if (label === IGNORE_INDEX) return;
      counted++;
      correct += h[i];
    });
  }
  return correct / counted;
}

/** A held-out question with its gold answers, as memory-model input. */
export interface HeldOutQuestion {
  example: MemoryExample;
  answers: string[];
}

/** EM/F1 of greedy answers from memories (or, with `reader: "text"`, from the documents' tokens). */
export async function memoryQaScores(
  model: MemoryLM,
  tokenizer: TextTokenizer,
  questions: readonly HeldOutQuestion[],
  o: { batchSize: number; maxNewTokens: number; reader?: DocumentReader },
): Promise<QaScores> {
  const answers = await answerFrom(o.reader ?? "memory", model, questions.map((q) => q.example), {
    eos: claraSpecial(tokenizer).sep,
    maxNewTokens: o.maxNewTokens,
    batchSize: o.batchSize,
  });
  return qaScores(answers.map((a) => decodeAnswer(tokenizer, a)), questions.map((q) => q.answers));
}
