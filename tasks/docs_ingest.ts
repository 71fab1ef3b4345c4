/**
 * `deno task docs:ingest --in DIR --out DIR [--chunk-tokens N] [--overlap N] [--fresh] [--json]`:
 * reads txt, md, html, pdf, docx, pptx and image files under DIR into `OUT/raw_knowledge.jsonl`
 * (one chunk per line) and `OUT/assets/`. An existing OUT is resumed: sources already done (same
 * content hash) are skipped, `--fresh` starts over. Unreadable files are skipped with a warning.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type IngestSummary, runIngest } from "./docs/ingest.ts";
import { positiveInt } from "./docs/flags.ts";
import { gpt2TokenCounter } from "./docs/token_count.ts";

const USAGE = "usage: deno task docs:ingest --in DIR --out DIR [--chunk-tokens N (256)] " +
  "[--overlap N (32)] [--resume | --fresh] [--commit-ms MS (1000)] [--json]";

/** Runs the command on `args`; returns the summary. */
export async function docsIngest(
  args: string[],
): Promise<{ summary: IngestSummary; json: boolean }> {
  const { values } = parseArgs({
    args,
    options: {
      in: { type: "string" },
      out: { type: "string" },
      "chunk-tokens": { type: "string", default: "256" },
      overlap: { type: "string", default: "32" },
      resume: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
      "commit-ms": { type: "string", default: "1000" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (!values.in || !values.out) throw new Error(`--in and --out are required\n${USAGE}`);
  if (values.resume && values.fresh) throw new Error("--resume and --fresh exclude each other");
  const stat = await Deno.stat(values.in).catch(() => undefined);
  if (!stat?.isDirectory) throw new Error(`--in ${values.in}: not a directory`);
  const summary = await runIngest({
    inDir: values.in,
    outDir: values.out,
    chunkTokens: positiveInt("--chunk-tokens", values["chunk-tokens"]),
    overlap: positiveInt("--overlap", values.overlap, 0),
    countTokens: await gpt2TokenCounter(),
    fresh: values.fresh,
    commitIntervalMs: positiveInt("--commit-ms", values["commit-ms"], 0),
  });
  return { summary, json: values.json };
}

function describe(s: IngestSummary): string {
  const langs = Object.entries(s.languages).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`).join(", ");
  return `docs:ingest: ${s.files} files (${s.read} read, ${s.resumed} already done, ` +
    `${s.skipped} skipped, ${s.dropped} changed/removed), ${s.chunks} chunks, ` +
    `${s.images} images (${s.imagesSkipped} skipped); languages: ${langs || "none"}; ` +
    `${(s.bytesRead / 1e6).toFixed(2)} MB read in ${s.seconds.toFixed(1)} s`;
}

if (import.meta.main) {
  try {
    const { summary, json } = await docsIngest(Deno.args);
    console.log(json ? JSON.stringify(summary) : describe(summary));
  } catch (e) {
    console.error(`docs:ingest: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
