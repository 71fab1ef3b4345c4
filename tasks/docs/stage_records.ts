/**
 * The record formats the CLaRa stages read, compatible with Apple's ml-clara data files:
 * `pretrain.jsonl` (stage 1: `{"data_type": "qa"|"paraphrase", "question": [...], "answers":
 * [...], "docs": [...]}`), `instruction.jsonl` (stage 2/3: `{"data_type": "instruction",
 * "question", "docs", "answer"}`), and `summaries.jsonl` (one dense summary per chunk).
 *
 * @module
 */

/** One question with its answer. */
export interface QaPair {
  question: string;
  answer: string;
  /** "simple", "complex", "cross_lingual" (endpoint) or "cloze" (offline). */
  kind: string;
}

/** What a synthesizer makes of one chunk. */
export interface Synthesis {
  summary: string;
  qa: QaPair[];
  paraphrases: string[];
  /** Descriptions of the chunk's images by the vision model (endpoint path only). */
  imageDescriptions?: { path: string; description: string }[];
}

/** A stage-1 record. */
export interface PretrainRecord {
  data_type: "qa" | "paraphrase";
  question: string[];
  answers: string[];
  docs: string[];
}

/** A stage-2/3 record; `pos_index` lists the gold documents among `docs`. */
export interface InstructionRecord {
  data_type: "instruction";
  question: string;
  docs: string[];
  answer: string;
  pos_index: number[];
}

/** Stage-1 records of one chunk: all its QA pairs in one record, one record per paraphrase. */
export function pretrainRecords(doc: string, s: Synthesis): PretrainRecord[] {
  const records: PretrainRecord[] = [];
  if (s.qa.length > 0) {
    records.push({
      data_type: "qa",
      question: s.qa.map((q) => q.question),
      answers: s.qa.map((q) => q.answer),
      docs: [doc],
    });
  }
  for (const p of s.paraphrases) {
    records.push({ data_type: "paraphrase", question: [], answers: [p], docs: [doc] });
  }
  return records;
}

/** Stage-2 records of one chunk: one per QA pair, the chunk as the only (gold) document. */
export function instructionRecords(doc: string, s: Synthesis): InstructionRecord[] {
  return s.qa.map((q) => ({
    data_type: "instruction",
    question: q.question,
    docs: [doc],
    answer: q.answer,
    pos_index: [0],
  }));
}
