/**
 * Converts multi-hop QA sets (HotpotQA, 2WikiMultihopQA, MuSiQue, read by
 * datasets/multihop_qa.ts) into the CLaRa stage formats, so every stage reads one format:
 * a stage-1 `qa` record per example over its supporting paragraphs, and a stage-2/3
 * `instruction` record over all its paragraphs with `pos_index` marking the supporting ones.
 *
 * @module
 */
import type { MultiHopExample } from "../../datasets/multihop_qa.ts";
import type { InstructionRecord, PretrainRecord } from "./stage_records.ts";

/** The records of a converted QA set. */
export interface ConvertedQa {
  pretrain: PretrainRecord[];
  instruction: InstructionRecord[];
}

/** A paragraph as one document: `"Title: sentence sentence …"`. */
export function paragraphDoc(title: string, sentences: string[]): string {
  return `${title}: ${sentences.map((s) => s.trim()).filter((s) => s !== "").join(" ")}`;
}

/** Converts examples; those without an answer (unanswerable MuSiQue rows) are left out. */
export function convertMultiHop(examples: MultiHopExample[]): ConvertedQa {
  const out: ConvertedQa = { pretrain: [], instruction: [] };
  for (const ex of examples) {
    if (ex.answer.trim() === "") continue;
    const docs = ex.paragraphs.map((p) => paragraphDoc(p.title, p.sentences));
    const gold = new Set(ex.supportingFacts.map((f) => f.title));
    const pos = ex.paragraphs.flatMap((p, i) => (gold.has(p.title) ? [i] : []));
    out.instruction.push({
      data_type: "instruction",
      question: ex.question,
      docs,
      answer: ex.answer,
      pos_index: pos,
    });
    if (pos.length > 0) {
      out.pretrain.push({
        data_type: "qa",
        question: [ex.question],
        answers: [ex.answer],
        docs: pos.map((i) => docs[i]),
      });
    }
  }
  return out;
}
