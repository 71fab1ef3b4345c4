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
