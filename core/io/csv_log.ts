/**
 * The training log: one CSV row per logged step (step, epoch, each loss term, lr, grad norm,
 * tokens/s, wall time), flushed as it goes, and an SVG chart of the loss curves written beside
 * the CSV on {@linkcode CsvLog.close}.
 *
 * @module
 */
import { type CsvCell, csvLines } from "./csv.ts";
import { lineChartSvg } from "./svg_chart.ts";

/** The standard column order for a training run with the given loss terms. */
export function trainingLogColumns(lossTerms: readonly string[]): string[] {
  return ["step", "epoch", ...lossTerms, "lr", "grad_norm", "tokens_per_s", "wall_s"];
}

/** An append-only CSV log with a fixed header. */
export class CsvLog {
  readonly #rows: Record<string, CsvCell>[] = [];

  private constructor(
    readonly path: string,
    readonly columns: readonly string[],
    readonly lossColumns: readonly string[],
  ) {}

  /**
   * Creates (overwrites) `path` and writes the header. `lossColumns` are the columns drawn in the
   * chart (default: every column whose name contains "loss").
   */
  static create(path: string, columns: readonly string[], lossColumns?: readonly string[]): CsvLog {
    const unique = new Set(columns);
    if (unique.size !== columns.length) throw new Error(`duplicate CSV columns: ${columns}`);
    Deno.writeTextFileSync(path, csvLines([[...columns]]));
    return new CsvLog(path, columns, lossColumns ?? columns.filter((c) => c.includes("loss")));
  }

  /**
   * Continues the log at `path` after a restart: keeps the rows with `step ≤ lastStep` (later
   * rows were written after the checkpoint being resumed and will be written again) and appends
   * from there. Creates the file when it does not exist.
   */
  static resume(
    path: string,
    columns: readonly string[],
    lastStep: number,
    lossColumns?: readonly string[],
  ): CsvLog {
    let lines: string[];
    try {
      lines = Deno.readTextFileSync(path).split("\n").filter((l) => l.length > 0);
    } catch {
      return CsvLog.create(path, columns, lossColumns);
    }
    if (lines[0] !== columns.join(",")) {
      throw new Error(`${path}: header "${lines[0]}" does not match the run's columns`);
    }
    const log = CsvLog.create(path, columns, lossColumns);
    for (const line of lines.slice(1)) {
      const cells = line.split(",");
      const row = Object.fromEntries(
        columns.map((
          c,
          i,
        ) => [c, cells[i] === "" || isNaN(Number(cells[i])) ? cells[i] : Number(cells[i])]),
      );
      if (typeof row.step === "number" && row.step <= lastStep) log.append(row);
    }
    return log;
  }

  /** Appends one row; unknown keys throw so a typo cannot silently drop a metric. */
  append(row: Record<string, CsvCell>): void {
    for (const key of Object.keys(row)) {
      if (!this.columns.includes(key)) throw new Error(`${this.path}: no column "${key}"`);
    }
    this.#rows.push({ ...row });
    Deno.writeTextFileSync(this.path, csvLines([this.columns.map((c) => row[c])]), {
      append: true,
    });
  }

  /** The rows appended so far. */
  get rows(): readonly Record<string, CsvCell>[] {
    return this.#rows;
  }

  /** Path of the chart written by {@linkcode close}. */
  get chartPath(): string {
    return this.path.replace(/\.csv$/i, "") + ".svg";
  }

  /** Writes the loss chart (x = step) beside the CSV. */
  close(title = "training loss"): void {
    const series = this.lossColumns.map((name) => ({
      name,
      points: this.#rows
        .filter((r) => typeof r.step === "number" && typeof r[name] === "number")
        .map((r) => [r.step as number, r[name] as number] as [number, number]),
    }));
    Deno.writeTextFileSync(this.chartPath, lineChartSvg(series, { title }));
  }
}
