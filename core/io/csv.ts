/**
 * The one place that knows the CSV library (npm:csv-stringify; jsr:@std/csv is unreachable here).
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";

/** A CSV cell. */
export type CsvCell = string | number | boolean | null | undefined;

/** Formats rows as CSV text (RFC 4180 quoting), one line per row, each ending in "\n". */
export function csvLines(rows: readonly CsvCell[][]): string {
  return stringify(rows.map((r) => r.map((c) => c ?? "")), { cast: { number: formatNumber } });
}

function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
}
