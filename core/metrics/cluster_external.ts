/**
 * Agreement of a clustering with reference labels: normalised mutual information (arithmetic-mean
 * normalisation, scikit-learn's default), adjusted Rand index (Hubert & Arabie 1985) and purity.
 * Both inputs are any integer or string labels; a predicted −1 (noise) counts as one more cluster,
 * as scikit-learn counts it.
 *
 * @module
 */

type Label = number | string;

/** Dense ids 0… for the distinct values of `labels`, in order of first appearance. */
function denseIds(labels: ArrayLike<Label>): { ids: Int32Array; count: number } {
  const map = new Map<Label, number>();
  const ids = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let id = map.get(labels[i]);
    if (id === undefined) map.set(labels[i], id = map.size);
    ids[i] = id;
  }
  return { ids, count: map.size };
}

/** The contingency table of two labelings (cells keyed by t · columns + p) and its margins. */
function contingency(truth: ArrayLike<Label>, predicted: ArrayLike<Label>) {
  if (truth.length !== predicted.length) {
    throw new Error(`${truth.length} reference labels against ${predicted.length} predictions`);
  }
  if (truth.length === 0) throw new Error("no labels to compare");
  const t = denseIds(truth), p = denseIds(predicted);
  const cells = new Map<number, number>();
  const rows = new Array(t.count).fill(0), cols = new Array(p.count).fill(0);
  for (let i = 0; i < truth.length; i++) {
    const key = t.ids[i] * p.count + p.ids[i];
    cells.set(key, (cells.get(key) ?? 0) + 1);
    rows[t.ids[i]]++;
    cols[p.ids[i]]++;
  }
  return { cells, rows, cols, columns: p.count, n: truth.length };
}

function entropy(counts: Iterable<number>, n: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/** NMI = I(T; P) / ((H(T) + H(P)) / 2); 1 when both labelings are one cluster each. */
export function normalizedMutualInformation(
  truth: ArrayLike<Label>,
  predicted: ArrayLike<Label>,
): number {
  const { cells, rows, cols, columns, n } = contingency(truth, predicted);
  const ht = entropy(rows, n), hp = entropy(cols, n);
  if (ht === 0 && hp === 0) return 1;
  let mi = 0;
  for (const [key, c] of cells) {
    const rt = rows[Math.floor(key / columns)], cp = cols[key % columns];
    mi += (c / n) * Math.log((c * n) / (rt * cp));
  }
  const denominator = (ht + hp) / 2;
  return denominator === 0 ? 0 : Math.max(0, mi / denominator);
}

const pairs = (m: number): number => (m * (m - 1)) / 2;

/** ARI: (Σ C(nᵢⱼ,2) − E) / (½(Σ C(aᵢ,2) + Σ C(bⱼ,2)) − E), E = Σ C(aᵢ,2)·Σ C(bⱼ,2) / C(n,2). */
export function adjustedRandIndex(truth: ArrayLike<Label>, predicted: ArrayLike<Label>): number {
  const { cells, rows, cols, n } = contingency(truth, predicted);
  let index = 0;
  for (const c of cells.values()) index += pairs(c);
  let a = 0, b = 0;
  for (const c of rows) a += pairs(c);
  for (const c of cols) b += pairs(c);
  const expected = (a * b) / pairs(n);
  const max = (a + b) / 2;
  if (max === expected) return 1; // both labelings are trivial in the same way
  return (index - expected) / (max - expected);
}

/** Purity: the share of points whose cluster's most common reference label is their own. */
export function purity(truth: ArrayLike<Label>, predicted: ArrayLike<Label>): number {
  const { cells, columns, n } = contingency(truth, predicted);
  const best = new Array(columns).fill(0);
  for (const [key, c] of cells) best[key % columns] = Math.max(best[key % columns], c);
  return best.reduce((a, b) => a + b, 0) / n;
}
