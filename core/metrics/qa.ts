/**
 * Question-answering metrics as the SQuAD and HotpotQA evaluation scripts define them: exact match
 * and token F1 of normalised answers (best over several gold answers), and Recall@k of gold
 * documents in a ranking.
 *
 * Normalisation: lower-case, remove ASCII punctuation (Python's `string.punctuation`), remove the
 * articles a / an / the as whole words, collapse whitespace.
 *
 * @module
 */

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
const ARTICLES = /\b(a|an|the)\b/g;

/** The SQuAD normal form of an answer string. */
export function normalizeAnswer(text: string): string {
  return text.toLowerCase().replace(PUNCTUATION, "").replace(ARTICLES, " ").split(/\s+/)
    .filter((w) => w.length > 0).join(" ");
}

function tokensOf(text: string): string[] {
  const normal = normalizeAnswer(text);
  return normal ? normal.split(" ") : [];
}

function golds(gold: string | readonly string[]): readonly string[] {
  const list = typeof gold === "string" ? [gold] : gold;
  if (list.length === 0) throw new Error("QA metric: no gold answer given");
  return list;
}

/** 1 when the normalised prediction equals a normalised gold answer, else 0. */
export function exactMatch(prediction: string, gold: string | readonly string[]): number {
  const p = normalizeAnswer(prediction);
  return golds(gold).some((g) => normalizeAnswer(g) === p) ? 1 : 0;
}

function f1Against(prediction: string[], gold: string[]): number {
  // SQuAD 2.0 convention: two empty answers agree, one empty answer shares nothing.
  if (prediction.length === 0 || gold.length === 0) {
    return prediction.length === gold.length ? 1 : 0;
  }
  const counts = new Map<string, number>();
  for (const w of gold) counts.set(w, (counts.get(w) ?? 0) + 1);
  let same = 0;
  for (const w of prediction) {
    const left = counts.get(w) ?? 0;
    if (left > 0) {
      same++;
      counts.set(w, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / prediction.length;
  const recall = same / gold.length;
  return (2 * precision * recall) / (precision + recall);
}

/**
 * Token F1 between the normalised prediction and the best-matching gold answer: overlap counted
 * with multiplicity, harmonic mean of precision and recall.
 */
export function tokenF1(prediction: string, gold: string | readonly string[]): number {
  const p = tokensOf(prediction);
  return Math.max(...golds(gold).map((g) => f1Against(p, tokensOf(g))));
}

/** Mean exact match and F1 over paired predictions and gold answer lists. */
export interface QaScores {
  /** Mean exact match in [0, 1]. */
  em: number;
  /** Mean token F1 in [0, 1]. */
  f1: number;
  /** Number of questions scored. */
  n: number;
}

/** Mean {@linkcode exactMatch} and {@linkcode tokenF1} over a set of questions. */
export function qaScores(
  predictions: readonly string[],
  gold: readonly (string | readonly string[])[],
): QaScores {
  if (predictions.length !== gold.length) {
    throw new Error(`qaScores: ${predictions.length} predictions for ${gold.length} questions`);
  }
  const n = predictions.length;
  if (n === 0) return { em: 0, f1: 0, n };
  let em = 0, f1 = 0;
  predictions.forEach((p, i) => {
    em += exactMatch(p, gold[i]);
    f1 += tokenF1(p, gold[i]);
  });
  return { em: em / n, f1: f1 / n, n };
}

/** The most frequent answer of a set and the share of predictions that give it. */
export interface CommonestAnswer {
  /** The normalised answer ({@linkcode normalizeAnswer}); ties go to the one seen first. */
  answer: string;
  /** Its share of all predictions, in [0, 1]. */
  share: number;
}

/**
 * The commonest normalised prediction and its share: a model that answers most questions the same
 * way ("no") scores the majority-per-type level, and EM/F1 alone do not show it.
 */
export function commonestAnswer(predictions: readonly string[]): CommonestAnswer {
  if (predictions.length === 0) throw new Error("commonestAnswer: no predictions given");
  const counts = new Map<string, number>();
  for (const p of predictions) {
    const a = normalizeAnswer(p);
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  let best = "", bestCount = 0;
  for (const [a, c] of counts) if (c > bestCount) [best, bestCount] = [a, c];
  return { answer: best, share: bestCount / predictions.length };
}

/**
 * Recall@k: the fraction of the gold documents found among the first k of a ranking (ids compared
 * with ===; duplicates in the ranking count once).
 */
export function recallAtK<T>(ranked: readonly T[], gold: readonly T[], k: number): number {
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`recallAtK: k must be an integer ≥ 1, got ${k}`);
  }
  const wanted = new Set(gold);
  if (wanted.size === 0) throw new Error("recallAtK: no gold documents given");
  const found = new Set(ranked.slice(0, k).filter((id) => wanted.has(id)));
  return found.size / wanted.size;
}
