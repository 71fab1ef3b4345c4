/**
 * Classification metrics from a confusion matrix: accuracy, per-class precision/recall/F1 and
 * macro-F1 (the unweighted mean of per-class F1, as in the MAMS paper and scikit-learn).
 *
 * @module
 */

/** Per-class scores. */
export interface ClassScores {
  /** Class name. */
  label: string;
  /** TP / (TP + FP); 0 when nothing was predicted as this class. */
  precision: number;
  /** TP / (TP + FN); 0 when the class never occurs. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** Number of gold examples of this class. */
  support: number;
}

/** The full report of a classification run. */
export interface ClassificationReport {
  /** Fraction of correct predictions in [0, 1]. */
  accuracy: number;
  /** Unweighted mean of the per-class F1 in [0, 1]. */
  macro_f1: number;
  /** Scores of each class, in label order. */
  classes: ClassScores[];
  /** confusion[gold][predicted] counts, in label order. */
  confusion: number[][];
  /** Number of examples scored. */
  count: number;
}

/** Counts confusion[gold][predicted] over paired label indices. */
export function confusionMatrix(
  gold: readonly number[],
  predicted: readonly number[],
  classes: number,
): number[][] {
  if (gold.length !== predicted.length) {
    throw new Error(
      `confusionMatrix: ${gold.length} gold labels but ${predicted.length} predictions`,
    );
  }
  const m = Array.from({ length: classes }, () => new Array(classes).fill(0));
  gold.forEach((g, i) => {
    const p = predicted[i];
    if (g < 0 || g >= classes || p < 0 || p >= classes) {
      throw new Error(`confusionMatrix: label out of range at ${i} (gold ${g}, predicted ${p})`);
    }
    m[g][p]++;
  });
  return m;
}

/** Accuracy, per-class precision/recall/F1 and macro-F1 of a confusion matrix. */
export function classificationReport(
  confusion: number[][],
  labels: readonly string[],
): ClassificationReport {
  const k = labels.length;
  let correct = 0, count = 0;
  const classes = labels.map((label, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    correct += tp;
    count += support;
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  return {
    accuracy: count ? correct / count : 0,
    macro_f1: classes.reduce((a, c) => a + c.f1, 0) / k,
    classes,
    confusion,
    count,
  };
}

/** A plain-text table of a report for terminals. */
export function formatReport(r: ClassificationReport): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const num = (x: number) => x.toFixed(4).padStart(9);
  const lines = [
    `accuracy ${r.accuracy.toFixed(4)}  macro-F1 ${r.macro_f1.toFixed(4)}  (n = ${r.count})`,
    `${pad("class", 10)}${"precision".padStart(9)}${"recall".padStart(9)}${"f1".padStart(9)}${
      "support".padStart(9)
    }`,
    ...r.classes.map((c) =>
      `${pad(c.label, 10)}${num(c.precision)}${num(c.recall)}${num(c.f1)}${
        String(c.support).padStart(9)
      }`
    ),
    "confusion (rows gold, columns predicted):",
    `${pad("", 10)}${r.classes.map((c) => c.label.slice(0, 8).padStart(9)).join("")}`,
    ...r.confusion.map((row, i) =>
      `${pad(r.classes[i].label, 10)}${row.map((v) => String(v).padStart(9)).join("")}`
    ),
  ];
  return lines.join("\n");
}
