/**
 * BM25 ranking of a small candidate set against a query (Robertson–Spärck Jones weighting with
 * Lucene's non-negative idf, `k1` 1.2, `b` 0.75): the plain retriever CLaRa's "normal" setting
 * uses over each example's candidate paragraphs, and the baseline the learned retriever of the
 * next stage must beat. Statistics (document frequencies, mean length) are those of the
 * candidates themselves; {@linkcode Bm25Index} keeps them for a whole corpus.
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

/**
 * The BM25 statistics of a fixed document set (term frequencies, document frequencies, mean
 * length), built once so that many queries can be scored against a whole corpus.
 */
export class Bm25Index {
  readonly #docs: { tf: Map<string, number>; length: number }[];
  readonly #df = new Map<string, number>();
  readonly #meanLength: number;
  readonly #k1: number;
  readonly #b: number;

  /** Indexes `documents` (their order is the index's row order). */
  constructor(documents: readonly string[], options: Bm25Options = {}) {
    this.#k1 = options.k1 ?? 1.2;
    this.#b = options.b ?? 0.75;
    this.#docs = documents.map((d) => {
      const tf = new Map<string, number>();
      const terms = bm25Terms(d);
      for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const t of tf.keys()) this.#df.set(t, (this.#df.get(t) ?? 0) + 1);
      return { tf, length: terms.length };
    });
    const n = this.#docs.length;
    this.#meanLength = n ? this.#docs.reduce((s, d) => s + d.length, 0) / n || 1 : 1;
  }

  /** BM25 score of each document for `query`, in the documents' order. */
  scores(query: string): number[] {
    return this.scoresOf(query, this.#docs.keys());
  }

  /** BM25 scores of the documents at `rows` (corpus statistics), in the order of `rows`. */
  scoresOf(query: string, rows: Iterable<number>): number[] {
    const n = this.#docs.length, k1 = this.#k1, b = this.#b;
    const terms = [...new Set(bm25Terms(query))].map((t) => {
      const df = this.#df.get(t) ?? 0;
      return { t, idf: Math.log(1 + (n - df + 0.5) / (df + 0.5)) };
    });
    return [...rows].map((row) => {
      const d = this.#docs[row];
      let score = 0;
      for (const { t, idf } of terms) {
        const f = d.tf.get(t) ?? 0;
        if (f === 0) continue;
        score += idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * d.length / this.#meanLength));
      }
      return score;
    });
  }

  /** The first `k` document indices by descending score (ties keep the documents' order). */
  rank(query: string, k = this.#docs.length): number[] {
    return this.rankOf(query, [...this.#docs.keys()], k);
  }

  /** The first `k` of `rows` by descending score (corpus statistics; ties keep `rows`' order). */
  rankOf(query: string, rows: readonly number[], k = rows.length): number[] {
    const scores = this.scoresOf(query, rows);
    return rows.map((_, i) => i).sort((x, y) => scores[y] - scores[x] || x - y).slice(0, k)
      .map((i) => rows[i]);
  }
}

/** BM25 score of each document for `query`, in the documents' order. */
export function bm25Scores(
  query: string,
  documents: readonly string[],
  options: Bm25Options = {},
): number[] {
  return new Bm25Index(documents, options).scores(query);
}

/** Indices of `documents` by descending BM25 score (ties keep the documents' order). */
export function bm25Rank(
  query: string,
  documents: readonly string[],
  options: Bm25Options = {},
): number[] {
  return new Bm25Index(documents, options).rank(query);
}
