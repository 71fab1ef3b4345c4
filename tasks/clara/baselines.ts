/**
 * The two trivial baselines eval:clara reports beside the model, so a reader sees what the
 * memories are worth: the **majority answer per question type** (counted on training examples;
 * HotpotQA's comparison questions are mostly "yes"/"no") and the **question-overlap span** (in
 * the sentence of the given documents that shares most words with the question, the run of words
 * outside the question nearest to the shared ones).
 *
 * @module
 */
import { normalizeAnswer } from "../../core/metrics/qa.ts";
import { bm25Terms } from "../../datasets/bm25.ts";

/** A question with its type, for the majority baseline. */
export interface TypedAnswer {
  type?: string;
  answer: string;
}

/** The most frequent normalised answer per type, and overall for unseen types. */
export interface MajorityAnswers {
  byType: Record<string, string>;
  overall: string;
}

function mostFrequent(answers: readonly string[]): string {
  const counts = new Map<string, { n: number; text: string }>();
  for (const a of answers) {
    const key = normalizeAnswer(a);
    const c = counts.get(key) ?? { n: 0, text: a.trim() };
    c.n++;
    counts.set(key, c);
  }
  let best = { n: 0, text: "" };
  for (const c of counts.values()) if (c.n > best.n) best = c;
  return best.text;
}

/** Counts the training answers per type. */
export function majorityAnswers(train: readonly TypedAnswer[]): MajorityAnswers {
  if (train.length === 0) throw new Error("majorityAnswers: no training examples");
  const byType: Record<string, string[]> = {};
  for (const t of train) (byType[t.type ?? "all"] ??= []).push(t.answer);
  return {
    byType: Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, mostFrequent(v)])),
    overall: mostFrequent(train.map((t) => t.answer)),
  };
}

/** The majority baseline's answer for a question of `type`. */
export function majorityAnswer(m: MajorityAnswers, type: string | undefined): string {
  return m.byType[type ?? "all"] ?? m.overall;
}

const STOP = new Set(
  "a an the of in on at to for by with and or is was are were be been which who what when where how did does do from as that this its his her their it"
    .split(
      " ",
    ),
);

/** Longest span of the overlap baseline, in words. */
const MAX_SPAN_WORDS = 4;

/**
 * The question-overlap span: the sentence of `docs` with the most distinct question words, then
 * its run of words that are neither question words nor stop words nearest to a question word
 * (at most four words; ties go to the earlier run). Empty when no document has a word.
 */
export function overlapSpan(question: string, docs: readonly string[]): string {
  const q = new Set(bm25Terms(question));
  let best: string[] = [], bestOverlap = -1;
  for (const doc of docs) {
    for (const sentence of doc.split(/(?<=[.!?])\s+/)) {
      const words = sentence.split(/\s+/).filter((w) => bm25Terms(w).length > 0);
      const overlap = new Set(words.flatMap(bm25Terms).filter((t) => q.has(t))).size;
      if (overlap > bestOverlap) [best, bestOverlap] = [words, overlap];
    }
  }
  const inQuestion = best.map((w) => bm25Terms(w).some((t) => q.has(t)));
  const content = best.map((w, i) => !inQuestion[i] && !STOP.has(bm25Terms(w).join(" ")));
  const anchors = inQuestion.flatMap((on, i) => (on ? [i] : []));
  let span: [number, number] | null = null, spanDistance = Infinity;
  for (let i = 0; i < best.length; i++) {
    if (!content[i] || (i > 0 && content[i - 1])) continue;
    let j = i;
    while (j + 1 < best.length && content[j + 1] && j + 1 - i < MAX_SPAN_WORDS) j++;
    const distance = anchors.length ? Math.min(...anchors.map((a) => (a < i ? i - a : a - j))) : i;
    if (distance < spanDistance) [span, spanDistance] = [[i, j], distance];
  }
  if (!span) return "";
  return best.slice(span[0], span[1] + 1).join(" ").replace(
    /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu,
    "",
  );
}
