/**
 * BM25 ranking of a small candidate set against a query (Robertson–Spärck Jones weighting with
 * Lucene's non-negative idf, `k1` 1.2, `b` 0.75): the plain retriever CLaRa's "normal" setting
 * uses over each example's candidate paragraphs, and the baseline the learned retriever of the
 * next stage must beat. Statistics (document frequencies, mean length) are those of the
 * candidates themselves.
 *
 * @module
 */

/** BM25 parameters. */
export interface Bm25Options {
  /** Term-frequency saturation (default 1.2). */
  k1?: number;
  /** Length normalisation (default 0.75). */
  b?: number;
}

/** Lower-cased alphanumeric words of `text` (Unicode letters and digits). */
export function bm25Terms(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** BM25 score of each document for `query`, in the documents' order. */
export function bm25Scores(
  query: string,
  documents: readonly string[],
  options: Bm25Options = {},
): number[] {
  const k1 = options.k1 ?? 1.2, b = options.b ?? 0.75;
  const docs = documents.map((d) => {
    const tf = new Map<string, number>();
    const terms = bm25Terms(d);
    for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
    return { tf, length: terms.length };
  });
  const n = docs.length;
  if (n === 0) return [];
  const meanLength = docs.reduce((s, d) => s + d.length, 0) / n || 1;
  const queryTerms = [...new Set(bm25Terms(query))];
  const idf = new Map(queryTerms.map((t) => {
    const df = docs.filter((d) => d.tf.has(t)).length;
    return [t, Math.log(1 + (n - df + 0.5) / (df + 0.5))];
  }));
  return docs.map((d) => {
    let score = 0;
    for (const t of queryTerms) {
      const f = d.tf.get(t) ?? 0;
      if (f === 0) continue;
      score += idf.get(t)! * (f * (k1 + 1)) / (f + k1 * (1 - b + b * d.length / meanLength));
    }
    return score;
  });
}

/** Indices of `documents` by descending BM25 score (ties keep the documents' order). */
export function bm25Rank(
  query: string,
  documents: readonly string[],
  options: Bm25Options = {},
): number[] {
  const scores = bm25Scores(query, documents, options);
  return scores.map((_, i) => i).sort((x, y) => scores[y] - scores[x] || x - y);
}
