/**
 * Stage 2 (instruction tuning) data: ml-clara `instruction.jsonl` records — a question, its
 * candidate documents with the gold ones marked, the answer — from files, or converted in
 * process from the QA training sets (as `docs:synthesize --from-qa` does). Each becomes a
 * "k documents' memories + question → answer" example, the gold documents among distractors.
 *
 * @module
 */
import { readMultiHopJson } from "../../datasets/multihop_qa.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { convertMultiHop } from "../docs/from_qa.ts";
import type { InstructionRecord } from "./stage_records.ts";
import type { MemoryExample } from "./memory_batch.ts";
import { selectDocuments } from "./doc_selection.ts";
import { documentIds, promptIds, targetIds } from "./tokens.ts";

/** Instruction records of multi-hop QA files (examples without an answer are left out). */
export async function qaInstructionRecords(
  files: readonly string[],
): Promise<InstructionRecord[]> {
  const out: InstructionRecord[] = [];
  for (const path of files) out.push(...convertMultiHop(await readMultiHopJson(path)).instruction);
  return out;
}

/**
 * The read order of a question's chosen documents: `bm25` (as `eval:clara` reads them), or
 * `file` (as the record lists them, e.g. gold at random places after `docs:distractors`).
 */
export type DocumentOrder = "bm25" | "file";

/** Sizes of an instruction example. */
export interface InstructShape {
  /** Documents read per question (gold first in, then BM25-ranked distractors). */
  docsPerQuestion: number;
  /** Read order of the chosen documents (default `bm25`). */
  docOrder?: DocumentOrder;
  docTokens: number;
  answerTokens: number;
}

/** The tokenized example of a record: gold documents plus distractors, up to k, in the shape's order. */
export function instructExample(
  tokenizer: TextTokenizer,
  record: InstructionRecord,
  shape: InstructShape,
): MemoryExample {
  const chosen = selectDocuments(
    record.question,
    record.docs,
    record.pos_index,
    shape.docsPerQuestion,
    "oracle",
  );
  if (shape.docOrder === "file") chosen.sort((a, b) => a - b);
  return {
    docs: chosen.map((i) => documentIds(tokenizer, record.docs[i], shape.docTokens)),
    prompt: promptIds(tokenizer, record.question),
    target: targetIds(tokenizer, record.answer, shape.answerTokens),
  };
}
