/**
 * `--search`: every candidate setting of a method is run and scored, the best by the selection
 * metric wins, and the whole table is kept for `sweep.csv`.
 *
 * @module
 */
import { csvLines } from "../../core/io/csv.ts";
import { Progress } from "../../core/io/progress.ts";
import {
  type Clusterer,
  type MethodName,
  type MethodParams,
  scoreLabels,
  type Scores,
  selectionValue,
  type SelectMetric,
} from "./methods.ts";

/** One row of the sweep. */
export interface SweepRow {
  params: MethodParams;
  labels: Int32Array;
  scores: Scores;
  /** The selection value (NaN: not eligible, fewer than 2 clusters). */
  value: number;
}

/** Runs the sweep; returns every row and the chosen one. */
export async function runSweep(
  clusterer: Clusterer,
  method: MethodName,
  truth: readonly string[] | undefined,
  select: SelectMetric,
  maxK: number,
): Promise<{ rows: SweepRow[]; best: SweepRow }> {
  const n = clusterer.points.n;
  const candidates = clusterer.candidates(method, maxK);
  if (candidates.length === 0) throw new Error(`--search: no ${method} settings fit ${n} texts`);
  const progress = new Progress(candidates.length, { label: `search ${method}` });
  const rows: SweepRow[] = [];
  for (const params of candidates) {
    const labels = await clusterer.run(method, params);
    const scores = scoreLabels(clusterer.points, labels, truth);
    const value = selectionValue(scores, select, n);
    rows.push({ params, labels, scores, value });
    if (rows.length < candidates.length) {
      progress.update(rows.length, `${JSON.stringify(params)} ${select} ${value.toFixed(3)}`);
    }
  }
  progress.finish();
  const valid = rows.filter((r) => Number.isFinite(r.value));
  if (valid.length === 0) throw new Error(`--search: no ${method} setting gave 2 or more clusters`);
  return { rows, best: valid.reduce((a, b) => (b.value > a.value ? b : a)) };
}

/** The sweep as CSV, one row per setting, `chosen` marking the winner. */
export function sweepCsv(rows: readonly SweepRow[], best: SweepRow): string {
  const header = ["k", "eps", "min_samples", "min_cluster_size", "clusters", "noise", "silhouette"];
  header.push("davies_bouldin", "calinski_harabasz", "nmi", "ari", "purity", "selection_value");
  return csvLines([
    [...header, "chosen"],
    ...rows.map(({ params: p, scores: s, value }, i) => [
      ...[p.k, p.eps, p.minSamples, p.minClusterSize, s.clusters, s.noise, s.silhouette],
      ...[s.daviesBouldin, s.calinskiHarabasz, s.nmi, s.ari, s.purity, value, rows[i] === best],
    ]),
  ]);
}
