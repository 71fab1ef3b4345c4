/**
 * A dependency-free SVG line chart for loss curves: one polyline per series, axes with round tick
 * values, a legend. Non-finite points are skipped (a NaN loss leaves a gap, not a broken file).
 *
 * @module
 */

/** One curve. */
export interface ChartSeries {
  /** Legend label. */
  name: string;
  /** [x, y] points in data units, drawn in array order; non-finite ones are skipped. */
  points: [number, number][];
}

/** Chart layout and labels. */
export interface ChartOptions {
  /** Heading above the plot (default none). */
  title?: string;
  /** X-axis label (default "step"). */
  xLabel?: string;
  /** Y-axis label (default "loss"). */
  yLabel?: string;
  /** Image width in pixels, legend included (default 720). */
  width?: number;
  /** Image height in pixels (default 420). */
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

/** Renders the series as a standalone SVG document. */
export function lineChartSvg(series: readonly ChartSeries[], options: ChartOptions = {}): string {
  const { width = 720, height = 420, title = "", xLabel = "step", yLabel = "loss" } = options;
  const margin = { left: 64, right: 150, top: 36, bottom: 48 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  }));
  const all = finite.flatMap((s) => s.points);
  const [x0, x1] = extent(all.map((p) => p[0]));
  const [y0, y1] = extent(all.map((p) => p[1]));
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0)) * plotH;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${margin.top}" y2="${
        margin.top + plotH
      }" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${margin.top + plotH + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${sy(t)}" y2="${
        sy(t)
      }" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${
      escape(xLabel)
    }</text>`,
    `<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">` +
      `${escape(yLabel)}</text>`,
  );
  finite.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const coords = s.points.map(([x, y]) => `${round(sx(x))},${round(sy(y))}`).join(" ");
    parts.push(
      `<polyline class="series" data-name="${escape(s.name)}" fill="none" stroke="${color}" ` +
        `stroke-width="1.5" points="${coords}"/>`,
      `<line x1="${width - margin.right + 12}" x2="${width - margin.right + 32}" ` +
        `y1="${margin.top + 10 + i * 18}" y2="${
          margin.top + 10 + i * 18
        }" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - margin.right + 38}" y="${margin.top + 14 + i * 18}">${
        escape(s.name)
      }</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

function extent(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** About five round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(1)
    : String(Number(v.toPrecision(6)));
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}
