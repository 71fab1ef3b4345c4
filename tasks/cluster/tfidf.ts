/**
 * TF-IDF over words: the `tfidf` embedder (TF-IDF + truncated SVD, i.e. LSA) and the top-terms
 * label of a cluster. Words are lowercase runs of letters and digits (apostrophes and hyphens
 * inside), minus a short English stop-word list; a term counts when it occurs in `minDf` texts.
 * Weights: sublinear tf (1 + ln tf) × smooth idf (ln((1 + n) / (1 + df)) + 1), rows L2-normalised
 * (scikit-learn's TfidfVectorizer with sublinear_tf). The SVD is randomised (Halko et al. 2011:
 * a Gaussian sketch, two power iterations, Gram–Schmidt, then the exact eigen-decomposition of the
 * small factor), seeded.
 *
 * @module
 */
import { Rng } from "../../core/random.ts";
import { symmetricEigen } from "../../core/cluster/eigen.ts";
import type { Points } from "../../core/cluster/points.ts";

const STOP_WORDS = new Set(
  ("a about above after again against all also am an and any are as at be because been before " +
    "being below between both but by can could did do does doing down during each few for from " +
    "further had has have having he her here hers herself him himself his how i if in into is it " +
    "its itself just me more most my myself no nor not now of off on once only or other our ours " +
    "out over own same she should so some such than that the their theirs them then there these " +
    "they this those through to too under until up very was we were what when where which while " +
    "who whom why will with would you your yours yourself s t one two first new may many much " +
    "however well within among since per like get got us via").split(" "),
);

/** The words of `text` that count as terms. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu)) {
    const w = m[0];
    if (w.length >= 2 && !STOP_WORDS.has(w) && !/^\d+$/.test(w)) out.push(w);
  }
  return out;
}

/** Sparse L2-normalised TF-IDF rows over a vocabulary. */
export interface TfidfMatrix {
  vocabulary: string[];
  idf: Float64Array;
  /** Per text: term ids (ascending) and weights. */
  rows: { terms: Int32Array; weights: Float64Array }[];
}

/** Options of {@linkcode tfidf}. */
export interface TfidfOptions {
  /** Texts a term must occur in (default 2; 1 when there are fewer than 20 texts). */
  minDf?: number;
  /** Most frequent terms kept (default 20 000). */
  maxTerms?: number;
}

/** Builds the TF-IDF matrix of `texts`. */
export function tfidf(texts: readonly string[], options: TfidfOptions = {}): TfidfMatrix {
  const minDf = options.minDf ?? (texts.length < 20 ? 1 : 2);
  const tokenized = texts.map(words);
  const df = new Map<string, number>();
  for (const ws of tokenized) for (const w of new Set(ws)) df.set(w, (df.get(w) ?? 0) + 1);
  const vocabulary = [...df.entries()].filter(([, c]) => c >= minDf)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, options.maxTerms ?? 20000).map(([w]) => w).sort();
  const id = new Map(vocabulary.map((w, i) => [w, i]));
  const n = texts.length;
  const idf = Float64Array.from(vocabulary, (w) => Math.log((1 + n) / (1 + df.get(w)!)) + 1);
  const rows = tokenized.map((ws) => {
    const tf = new Map<number, number>();
    for (const w of ws) {
      const t = id.get(w);
      if (t !== undefined) tf.set(t, (tf.get(t) ?? 0) + 1);
    }
    const terms = Int32Array.from([...tf.keys()].sort((a, b) => a - b));
    const weights = Float64Array.from(terms, (t) => (1 + Math.log(tf.get(t)!)) * idf[t]);
    const norm = Math.hypot(...weights) || 1;
    for (let i = 0; i < weights.length; i++) weights[i] /= norm;
    return { terms, weights };
  });
  return { vocabulary, idf, rows };
}

/** The rank-`dim` LSA embedding U·Σ of the TF-IDF matrix (`[n, dim]`), deterministic per seed. */
export function tfidfSvd(m: TfidfMatrix, dim: number, seed = 0): Points {
  const n = m.rows.length, v = m.vocabulary.length;
  const rank = Math.max(1, Math.min(dim, n, v));
  const l = Math.min(rank + 10, n, v);
  const rng = new Rng(seed);
  const omega = Float64Array.from({ length: v * l }, () => rng.normal());
  // Y = X Ω, then two power iterations Y = X (Xᵀ Y), each re-orthonormalised.
  let y = timesDense(m, omega, l);
  for (let it = 0; it < 2; it++) {
    orthonormalizeColumns(y, n, l);
    y = timesDense(m, transposeTimes(m, y, l, v), l);
  }
  orthonormalizeColumns(y, n, l);
  const b = transposeTimes(m, y, l, v); // Xᵀ Q: [v, l]; B = Qᵀ X is its transpose
  const gram = new Float64Array(l * l); // B Bᵀ = (Xᵀ Q)ᵀ (Xᵀ Q)
  for (let t = 0; t < v; t++) {
    for (let p = 0; p < l; p++) {
      const bp = b[t * l + p];
      if (bp === 0) continue;
      for (let q = 0; q < l; q++) gram[p * l + q] += bp * b[t * l + q];
    }
  }
  const { values, vectors } = symmetricEigen(gram, l);
  // U Σ = Q · U_B · Σ, and U_B Σ = eigenvectors scaled by √λ.
  const data = new Float32Array(n * rank);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < rank; c++) {
      const sigma = Math.sqrt(Math.max(0, values[c]));
      let s = 0;
      for (let p = 0; p < l; p++) s += y[i * l + p] * vectors[c][p];
      data[i * rank + c] = s * sigma;
    }
  }
  return { n, dim: rank, data };
}

/** X · D for a dense `[v, cols]` D: `[n, cols]`. */
function timesDense(m: TfidfMatrix, d: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(m.rows.length * cols);
  m.rows.forEach(({ terms, weights }, i) => {
    for (let k = 0; k < terms.length; k++) {
      const w = weights[k], o = terms[k] * cols;
      for (let c = 0; c < cols; c++) out[i * cols + c] += w * d[o + c];
    }
  });
  return out;
}

/** Xᵀ · Y for a dense `[n, cols]` Y: `[v, cols]`. */
function transposeTimes(m: TfidfMatrix, y: Float64Array, cols: number, v: number): Float64Array {
  const out = new Float64Array(v * cols);
  m.rows.forEach(({ terms, weights }, i) => {
    for (let k = 0; k < terms.length; k++) {
      const w = weights[k], o = terms[k] * cols;
      for (let c = 0; c < cols; c++) out[o + c] += w * y[i * cols + c];
    }
  });
  return out;
}

/** Modified Gram–Schmidt on the columns of the row-major `[rows, cols]` matrix, in place. */
function orthonormalizeColumns(a: Float64Array, rows: number, cols: number): void {
  for (let c = 0; c < cols; c++) {
    for (let p = 0; p < c; p++) {
      let d = 0;
      for (let r = 0; r < rows; r++) d += a[r * cols + c] * a[r * cols + p];
      for (let r = 0; r < rows; r++) a[r * cols + c] -= d * a[r * cols + p];
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += a[r * cols + c] ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < rows; r++) a[r * cols + c] = norm > 1e-12 ? a[r * cols + c] / norm : 0;
  }
}

/**
 * The `count` terms that most distinguish `members` from the whole collection: highest mean
 * TF-IDF weight among the members minus the mean over all texts.
 */
export function topTerms(m: TfidfMatrix, members: readonly number[], count = 5): string[] {
  const inside = new Float64Array(m.vocabulary.length);
  for (const i of members) {
    const { terms, weights } = m.rows[i];
    for (let k = 0; k < terms.length; k++) inside[terms[k]] += weights[k] / members.length;
  }
  const overall = overallMeans(m);
  return [...inside.keys()].filter((t) => inside[t] > 0)
    .sort((a, b) => inside[b] - overall[b] - (inside[a] - overall[a]) || a - b)
    .slice(0, count).map((t) => m.vocabulary[t]);
}

const overallCache = new WeakMap<TfidfMatrix, Float64Array>();

function overallMeans(m: TfidfMatrix): Float64Array {
  let means = overallCache.get(m);
  if (!means) {
    means = new Float64Array(m.vocabulary.length);
    for (const { terms, weights } of m.rows) {
      for (let k = 0; k < terms.length; k++) means[terms[k]] += weights[k] / m.rows.length;
    }
    overallCache.set(m, means);
  }
  return means;
}
