/**
 * `deno task data:stats [--data DIR | --file F …] [--json] [--lenient]`: per ABSA XML file, the
 * detected format, sentences, aspects, sentences without aspects and the label distribution.
 * `--lenient` skips (and reports) elements the format does not define instead of refusing the file.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type AbsaStats, absaStats } from "../datasets/absa_stats.ts";
import { readAbsaXml } from "../datasets/absa_xml.ts";
import { resolveDataDir } from "../datasets/data_dir.ts";

/** Runs the command on `args`; returns the output lines (one JSON object per file with --json). */
export async function dataStats(args: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      file: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      lenient: { type: "boolean", default: false },
    },
    strict: true,
  });
  const files = values.file?.length ? values.file : await xmlFilesUnder(
    resolveDataDir({ flag: values.data }),
  );
  if (files.length === 0) throw new Error("no .xml files found to describe");
  const lines: string[] = [];
  for (const file of files) {
    const data = await readAbsaXml(file, { lenient: values.lenient });
    const stats = absaStats(data);
    if (values.json) {
      const record = jsonRecord(stats);
      if (data.warnings.length) record.warnings = data.warnings;
      lines.push(JSON.stringify(record));
    } else {
      lines.push(...data.warnings.map((w) => `warning: ${w}`));
      const skipped = data.warnings.length
        ? `; ${data.warnings.length} element(s) skipped (--lenient)`
        : "";
      lines.push(describe(stats) + skipped);
    }
  }
  return lines;
}

function jsonRecord(s: AbsaStats): Record<string, unknown> {
  const record: Record<string, unknown> = {
    file: s.file,
    format: s.format,
    sentences: s.sentences,
    aspects: s.aspects,
    labels: s.labels,
  };
  if (s.categories !== undefined) record.categories = s.categories;
  return record;
}

function describe(s: AbsaStats): string {
  const labels = Object.entries(s.labels).sort().map(([k, v]) => `${k} ${v}`).join(", ");
  const categories = s.categories !== undefined ? `, ${s.categories} categories` : "";
  return `${s.file}: ${s.format}, ${s.sentences} sentences, ${s.aspects} aspects${categories}, ` +
    `${s.sentencesWithoutAspects} without aspects; labels: ${labels}`;
}

async function xmlFilesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await xmlFilesUnder(path));
    else if (entry.isFile && entry.name.endsWith(".xml")) found.push(path);
  }
  return found.sort();
}

if (import.meta.main) {
  try {
    for (const line of await dataStats(Deno.args)) console.log(line);
  } catch (e) {
    console.error(`data:stats: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
