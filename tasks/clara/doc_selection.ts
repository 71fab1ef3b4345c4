/**
 * Which of an example's candidate documents the generator reads, by setting: **oracle** — the
 * gold documents plus the best-ranked distractors up to k; **normal** — the top k by BM25 over the
 * example's candidates (the plain retriever). Either way the chosen documents are read in BM25
 * order, so a gold document's place says nothing about it being gold.
 *
 * @module
 */
import { bm25Rank } from "../../datasets/bm25.ts";

/** The evaluation settings. */
export type RetrievalSetting = "oracle" | "normal";

/** Indices of the documents to read, in BM25 order (at most `k`; all gold ones for oracle). */
export function selectDocuments(
  question: string,
  docs: readonly string[],
  gold: readonly number[],
  k: number,
  setting: RetrievalSetting,
): number[] {
  const ranked = bm25Rank(question, docs);
  if (setting === "normal") return ranked.slice(0, k);
  const goldSet = new Set(gold);
  const distractors = ranked.filter((i) => !goldSet.has(i));
  const chosen = new Set([...gold, ...distractors.slice(0, Math.max(0, k - goldSet.size))]);
  return ranked.filter((i) => chosen.has(i));
}
