/**
 * Logging for tasks: CSV training logs, the loss chart, and the progress display.
 *
 * @module
 */
export * from "./csv.ts";
export * from "./csv_log.ts";
export * from "./progress.ts";
export * from "./svg_chart.ts";
