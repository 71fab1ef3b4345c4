/**
 * The offline synthesizer: training data from a chunk without any model. The summary is the
 * chunk's most central sentences (each scored by its word overlap with all the others, as in
 * TextRank); QA pairs are cloze questions over the most central sentences that hold a date, number
 * or name, whose answer is that span; the paraphrase is the chunk's sentences in another order.
 * Deterministic: the same chunk always gives the same output.
 *
 * @module
 */
import { splitSentences } from "../../datasets/documents/sentences.ts";
import { answerSpans } from "./answer_spans.ts";
import type { QaPair, Synthesis } from "./stage_records.ts";
import { sha256Hex } from "./sources.ts";

/** Most QA pairs per chunk (the endpoint path asks for 3–5 too). */
export const MAX_QA_PER_CHUNK = 5;
/** Most sentences in a summary. */
const MAX_SUMMARY_SENTENCES = 3;
const MIN_WORDS = 6;
const MAX_WORDS = 60;

const HINT = { date: "a date", number: "a number", name: "a name" } as const;

/** Synthesizes a summary, cloze QA pairs and a reordering paraphrase for chunk `id`. */
export function synthesizeOffline(id: string, text: string): Synthesis {
  const sentences = text.split("\n").flatMap((line) =>
    line.includes(" | ") ? [] : splitSentences(line)
  ).map(clean).filter((s) => s !== "");
  const scores = centrality(sentences);
  const byScore = sentences.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const summaryCount = Math.min(
    MAX_SUMMARY_SENTENCES,
    Math.max(1, Math.ceil(sentences.length / 3)),
  );
  const summary = byScore.slice(0, summaryCount).sort((a, b) => a - b).map((i) => sentences[i])
    .join(" ");
  const qa: { index: number; pair: QaPair }[] = [];
  const answers = new Set<string>();
  for (const i of byScore) {
    if (qa.length >= MAX_QA_PER_CHUNK) break;
    const pair = clozeOf(sentences[i], answers);
    if (pair) {
      answers.add(pair.answer.toLowerCase());
      qa.push({ index: i, pair });
    }
  }
  qa.sort((a, b) => a.index - b.index);
  return {
    summary,
    qa: qa.map((q) => q.pair),
    paraphrases: reorder(id, sentences),
  };
}

/** The sentence without citation marks and Markdown emphasis. */
function clean(sentence: string): string {
  return sentence.replace(/\[\s?\d{1,3}\s?\]/g, "").replace(
    /(^|\s)[_*]+|[_*]+(?=[\s.,;:!?)]|$)/g,
    "$1",
  )
    .replace(/\s+/g, " ").trim();
}

/** Bibliography entries and links: their blanks cannot be answered from the prose. */
const REFERENCE = /ISBN|doi:|\bpp?\.\s?\d|\bvol\.|Retrieved|\d+\(\d+\)|https?:|www\./i;

/**
 * A cloze question over one sentence (a date, else a number, else the longest name blanked out),
 * or undefined when the sentence is too short or long, is a reference, or has no unique span whose
 * answer is not already in `used` (lower-cased answers).
 */
export function clozeOf(sentence: string, used: ReadonlySet<string>): QaPair | undefined {
  const words = sentence.split(" ").length;
  if (words < MIN_WORDS || words > MAX_WORDS || !/[.!?]["'”’)]?$/.test(sentence)) return undefined;
  if (REFERENCE.test(sentence)) return undefined;
  const spans = answerSpans(sentence).filter((s) =>
    !used.has(s.text.toLowerCase()) && sentence.indexOf(s.text) === s.start &&
    sentence.indexOf(s.text, s.start + 1) < 0 &&
    s.text.length < sentence.length / 2
  );
  if (spans.length === 0) return undefined;
  // Dates and numbers make the least ambiguous blanks; then the longest name.
  const best = spans.find((s) => s.kind === "date") ?? spans.find((s) => s.kind === "number") ??
    spans.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const blanked = sentence.slice(0, best.start) + "____" +
    sentence.slice(best.start + best.text.length);
  return {
    question: `Fill in the blank (${HINT[best.kind]}): ${blanked}`,
    answer: best.text,
    kind: "cloze",
  };
}

const STOP = new Set(
  "the and for that with was were are his her its from this which who has had have been not but their they also into than then there after when where while about over under more most such other"
    .split(" "),
);

function contentWords(sentence: string): Set<string> {
  return new Set(
    (sentence.toLowerCase().match(/\p{L}[\p{L}\p{N}'-]*/gu) ?? []).filter((w) =>
      w.length > 2 && !STOP.has(w)
    ),
  );
}

/** Each sentence's summed similarity to the others: |shared words| / (log|a| + log|b|). */
function centrality(sentences: string[]): number[] {
  const bags = sentences.map(contentWords);
  return bags.map((a, i) => {
    let score = 0;
    bags.forEach((b, j) => {
      if (i === j || a.size < 2 || b.size < 2) return;
      let shared = 0;
      for (const w of a) if (b.has(w)) shared++;
      score += shared / (Math.log(a.size) + Math.log(b.size));
    });
    return score;
  });
}

/** One paraphrase: the sentences in an order fixed by the chunk id (needs three or more). */
function reorder(id: string, sentences: string[]): string[] {
  if (sentences.length < 3) return [];
  const order = sentences.map((s, i) => ({ i, key: sha256Hex(`${id}\u0000${i}\u0000${s}`) }))
    .sort((a, b) => (a.key < b.key ? -1 : 1)).map((o) => o.i);
  if (order.every((v, i) => v === i)) order.push(order.shift()!);
  return [order.map((i) => sentences[i]).join(" ")];
}
