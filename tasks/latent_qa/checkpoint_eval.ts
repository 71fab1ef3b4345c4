/**
 * Scores a saved latent-QA model directory on a multi-hop QA file (HotpotQA, 2Wiki or MuSiQue
 * format): what eval:latent-qa prints and each row of compare:latent-qa.
 *
 * @module
 */
import { readMultiHopJson } from "../../datasets/multihop_qa.ts";
import { evaluateQa, type QaReport } from "./evaluate.ts";
import { qaSpecialIds, tokenizeQaExample } from "./examples.ts";
import { loadLatentQaModel } from "./model_dir.ts";

/** One scored question: what `--predictions` writes, one JSON line each. */
export interface PredictionRow {
  id: string;
  question: string;
  answer: string;
  prediction: string;
}

/** A report with the model kind it came from and each question's prediction. */
export interface CheckpointReport extends QaReport {
  kind: "latent" | "baseline";
  /** The questions in input order with their gold answer and the model's. */
  rows: PredictionRow[];
}

/** Loads `dir`, scores it on the first `limit` questions of `file` (all when 0), frees it. */
export async function evaluateCheckpoint(
  dir: string,
  file: string,
  options: { limit: number; batchSize: number },
): Promise<CheckpointReport> {
  const { model, run, tokenizer } = await loadLatentQaModel(dir);
  try {
    const raw = await readMultiHopJson(file);
    const chosen = options.limit > 0 ? raw.slice(0, options.limit) : raw;
    const examples = chosen.map((e) => tokenizeQaExample(e, tokenizer, run.lengths));
    const report = await evaluateQa(model, tokenizer, qaSpecialIds(tokenizer), examples, {
      batchSize: options.batchSize,
      maxAnswer: run.lengths.maxAnswer,
    });
    const rows = chosen.map((e, i) => ({
      id: e.id,
      question: e.question,
      answer: e.answer,
      prediction: report.predictions[i],
    }));
    return { kind: run.model.kind, ...report, rows };
  } finally {
    model.dispose();
  }
}

/** Parses a non-negative integer flag value, naming the flag when it is not one. */
export function countFlag(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--${name}: expected a non-negative integer, got "${raw}"`);
  }
  return n;
}
