/**
 * Presenting bench records: the readable table with ours/peer ratios, and bench/RESULTS.md.
 *
 * @module
 */
import { CPU_LOOP } from "./ours_retrieval.ts";
import type { BenchRecord } from "./harness.ts";

/** The implementation every ratio compares against the peers. */
export const OURS = "ours";

function rate(r: BenchRecord): string {
  if (r.group === "memory" && r.peak_bytes !== undefined) {
    return `${(r.peak_bytes / 2 ** 20).toFixed(1)} MiB peak`;
  }
  if (r.gflops !== undefined) return `${r.gflops} GFLOP/s`;
  if (r.gbps !== undefined) return `${r.gbps} GB/s`;
  if (r.tokens_per_s !== undefined) return `${r.tokens_per_s} tok/s`;
  return "";
}

function key(r: BenchRecord): string {
  return `${r.group}|${r.name}|${r.shape}`;
}

/**
 * Speed of ours relative to a peer: peer time / our time, so 2.0 means ours is twice as fast.
 * Undefined when ours did not run the case.
 */
export function speedup(records: BenchRecord[], peer: BenchRecord): number | undefined {
  const ours = records.find((r) => r.impl === OURS && key(r) === key(peer));
  return ours ? peer.ms / ours.ms : undefined;
}

/** Implementations that run on the CPU rather than through WebGPU. */
export const CPU_IMPLS: readonly string[] = ["jax-js-wasm", "pytorch-cpu", CPU_LOOP];

/**
 * Plain statements of the cases where a CPU implementation beats every WebGPU path (ours and the
 * WebGPU peers), as happens on software adapters such as lavapipe.
 */
export function cpuWins(records: BenchRecord[]): string[] {
  const out: string[] = [];
  for (const c of new Set(records.map(key))) {
    const group = records.filter((r) => key(r) === c);
    const best = group.reduce((a, b) => (b.ms < a.ms ? b : a));
    const gpuBest = group.filter((r) => !CPU_IMPLS.includes(r.impl))
      .reduce<BenchRecord | null>((a, b) => (a && a.ms <= b.ms ? a : b), null);
    if (CPU_IMPLS.includes(best.impl) && gpuBest) {
      out.push(
        `${best.impl} (CPU) beats every WebGPU path on ${best.name} ${best.shape}: ` +
          `${best.ms} ms vs ${gpuBest.ms} ms (${gpuBest.impl})`,
      );
    }
  }
  return out;
}

/** Rows of the table: one per (case, impl), ours first in each case. */
function rows(records: BenchRecord[]): string[][] {
  const cases = [...new Set(records.map(key))];
  const out: string[][] = [];
  for (const c of cases) {
    const group = records.filter((r) => key(r) === c)
      .sort((a, b) => Number(b.impl === OURS) - Number(a.impl === OURS));
    for (const r of group) {
      const s = r.impl === OURS ? undefined : speedup(records, r);
      const extra = r.impl === OURS && r.syncs_per_step !== undefined
        ? `syncs ${r.syncs_per_step}` + (r.group === "memory" ? `, growth ${r.growth_bytes} B` : "")
        : "";
      out.push([
        r.group,
        r.name,
        r.shape,
        r.impl,
        r.ms.toString(),
        `${r.min}–${r.max}`,
        r.n.toString(),
        rate(r),
        s === undefined ? "" : `${s.toFixed(2)}×`,
        extra,
      ]);
    }
  }
  return out;
}

const HEADER = [
  "group",
  "case",
  "shape",
  "impl",
  "ms (median)",
  "min–max",
  "n",
  "rate",
  "speed ours/peer",
  "notes",
];

/** A plain-text table for the terminal. */
export function formatTable(records: BenchRecord[]): string {
  const all = [HEADER, ...rows(records)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** A Markdown table. */
export function formatMarkdown(records: BenchRecord[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(HEADER), line(HEADER.map(() => "---")), ...rows(records).map(line)].join("\n");
}

/** The adapters that ran the records, one per implementation. */
export function adapters(records: BenchRecord[]): Map<string, string> {
  return new Map(records.map((r) => [r.impl, r.adapter]));
}

/**
 * bench/RESULTS.md: the table, the adapters, date and commit, the notes of the run, and extra
 * Markdown sections (the step breakdown, the RSS over steps).
 */
export function resultsMarkdown(
  records: BenchRecord[],
  meta: { date: string; commit: string; command: string; notes: string[]; sections?: string[] },
): string {
  const adapterLines = [...adapters(records)].map(([impl, a]) => `- ${impl}: ${a}`);
  return [
    "# Bench results",
    "",
    `Produced by \`${meta.command}\` on ${meta.date} at commit \`${meta.commit}\`.`,
    "Times are medians of ≥ 5 runs after warm-up, GPU completion included. " +
    '"speed ours/peer" is peer ms / our ms on the same case in the same run (> 1: ours is faster).',
    "",
    "## Adapters",
    "",
    ...adapterLines,
    "",
    "## Results",
    "",
    formatMarkdown(records),
    "",
    ...section("Where the CPU wins", cpuWins(records)),
    ...section("Notes", meta.notes),
    ...(meta.sections ?? []).flatMap((text) => [text, ""]),
  ].join("\n");
}

function section(title: string, lines: string[]): string[] {
  return lines.length ? [`## ${title}`, "", ...lines.map((l) => `- ${l}`), ""] : [];
}
