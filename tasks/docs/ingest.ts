/**
 * The ingest pipeline behind `deno task docs:ingest`: every source file under the input directory
 * is read, chunked and written to `raw_knowledge.jsonl` with its images extracted to `assets/`.
 * Files that cannot be read are skipped with one warning line. Progress is committed per source
 * (see committed_files.ts), so a killed run resumes to the same bytes an uninterrupted run writes;
 * sources whose content hash is already done are not read again, and changed or removed sources
 * have their old chunks dropped.
 *
 * @module
 */
import { writeFileAtomic } from "../../core/io/safetensors.ts";
import { Progress, type ProgressOptions } from "../../core/io/progress.ts";
import { chunkDocument, type DocumentChunk } from "../../datasets/documents/chunker.ts";
import { checkImage } from "../../datasets/documents/image_check.ts";
import { detectLanguage, type Language } from "../../datasets/documents/language.ts";
import { readDocument } from "../../datasets/documents/read_document.ts";
import { DocumentSkipError, type EmbeddedImage } from "../../datasets/documents/types.ts";
import { CommittedFiles } from "./committed_files.ts";
import type { KnowledgeImage, KnowledgeRecord } from "./knowledge.ts";
import { listSources, sha256Hex, type SourceFile } from "./sources.ts";

/** The output files of an ingest run. */
export const KNOWLEDGE_FILE = "raw_knowledge.jsonl";
/** One line per finished source: `{source, hash, status, chunks, images, reason?}`. */
export const INGEST_DONE_FILE = "ingest_done.jsonl";
/** The commit marker (lengths of the two files above). */
export const INGEST_STATE_FILE = "ingest_state.json";

/** Options of {@linkcode runIngest}. */
export interface IngestOptions {
  inDir: string;
  outDir: string;
  /** Target chunk size in tokens (default 256). */
  chunkTokens?: number;
  /** Tokens shared by consecutive chunks of a section (default 32). */
  overlap?: number;
  /** Token counter (the tasks pass the GPT-2 counter). */
  countTokens: (text: string) => number;
  /** Discard earlier output instead of resuming it. */
  fresh?: boolean;
  /** Warning lines (default: stderr). */
  warn?: (line: string) => void;
  /** Progress display options (default: stderr). */
  progress?: ProgressOptions;
  /** Milliseconds between commits (default 1000; 0 commits after every source). */
  commitIntervalMs?: number;
}

/** What an ingest run did; counts cover the whole output directory unless said otherwise. */
export interface IngestSummary {
  files: number;
  /** Sources read in this run. */
  read: number;
  /** Sources already done by an earlier run (same content hash). */
  resumed: number;
  skipped: number;
  /** Skipped files by reason. */
  skippedFiles: { source: string; reason: string }[];
  /** Sources whose earlier chunks were dropped because they changed or disappeared. */
  dropped: number;
  chunks: number;
  images: number;
  imagesSkipped: number;
  languages: Record<string, number>;
  /** Bytes of source files read in this run. */
  bytesRead: number;
  seconds: number;
}

interface DoneEntry {
  source: string;
  hash: string;
  status: "done" | "skipped";
  chunks: number;
  images: number;
  imagesSkipped: number;
  languages: Record<string, number>;
  reason?: string;
}

/** Runs the ingest pipeline; returns the summary. */
export async function runIngest(options: IngestOptions): Promise<IngestSummary> {
  const start = performance.now();
  const warn = options.warn ?? ((line: string) => console.error(line));
  const chunkTokens = options.chunkTokens ?? 256;
  const overlap = options.overlap ?? 32;
  const interval = options.commitIntervalMs ?? 1000;
  const files = await CommittedFiles.open<Record<string, never>>(options.outDir, {
    stateFile: INGEST_STATE_FILE,
    files: [KNOWLEDGE_FILE, INGEST_DONE_FILE],
    kind: "docs:ingest",
    settings: { chunkTokens, overlap, tokenizer: "gpt2" },
    initial: {},
    fresh: options.fresh,
  });
  const sources = await listSources(options.inDir, options.outDir);
  const hashes = new Map<string, string>();
  for (const s of sources) {
    // A file that cannot be read (permissions, gone since the listing) is skipped below.
    hashes.set(s.rel, await Deno.readFile(s.path).then(sha256Hex, () => "unreadable"));
  }
  const done = await dropStale(files, hashes);
  const summary: IngestSummary = {
    files: sources.length,
    read: 0,
    resumed: 0,
    skipped: 0,
    skippedFiles: [],
    dropped: done.dropped,
    chunks: 0,
    images: 0,
    imagesSkipped: 0,
    languages: {},
    bytesRead: 0,
    seconds: 0,
  };
  const totalMb = sources.reduce((s, f) => s + f.size, 0) / 1e6;
  const progress = new Progress(round2(totalMb), { label: "ingest MB", ...options.progress });
  let mbDone = 0;
  let lastCommit = performance.now();
  for (const [i, source] of sources.entries()) {
    const hash = hashes.get(source.rel)!;
    const earlier = done.entries.get(source.rel);
    const entry = earlier ?? await ingestSource(source, hash, options, files, {
      chunkTokens,
      overlap,
      warn,
    });
    if (earlier) summary.resumed++;
    else {
      summary.read++;
      summary.bytesRead += source.size;
      files.appendLine(INGEST_DONE_FILE, JSON.stringify(entry));
      if (performance.now() - lastCommit >= interval) {
        await files.commit();
        lastCommit = performance.now();
      }
    }
    count(summary, entry);
    mbDone += source.size / 1e6;
    // The last step is shown by finish().
    if (i + 1 < sources.length) {
      progress.update(
        round2(mbDone),
        `files ${i + 1}/${sources.length}, ${summary.chunks} chunks, ${summary.skipped} skipped`,
      );
    }
  }
  await files.commit();
  progress.finish(`files ${sources.length}, ${summary.chunks} chunks, ${summary.skipped} skipped`);
  summary.seconds = (performance.now() - start) / 1000;
  return summary;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function count(summary: IngestSummary, entry: DoneEntry): void {
  if (entry.status === "skipped") {
    summary.skipped++;
    summary.skippedFiles.push({ source: entry.source, reason: entry.reason ?? "" });
  }
  summary.chunks += entry.chunks;
  summary.images += entry.images;
  summary.imagesSkipped += entry.imagesSkipped;
  for (const [lang, n] of Object.entries(entry.languages)) {
    summary.languages[lang] = (summary.languages[lang] ?? 0) + n;
  }
}

/** Reads the done-list; drops the chunks of sources that changed or disappeared since. */
async function dropStale(
  files: CommittedFiles<Record<string, never>>,
  hashes: Map<string, string>,
): Promise<{ entries: Map<string, DoneEntry>; dropped: number }> {
  const entries = new Map<string, DoneEntry>();
  const doneText = await files.readCommitted(INGEST_DONE_FILE);
  for (const line of doneText.split("\n")) {
    if (line === "") continue;
    const entry = JSON.parse(line) as DoneEntry;
    entries.set(entry.source, entry);
  }
  const stale = new Set(
    [...entries.values()].filter((e) => hashes.get(e.source) !== e.hash)
      .map((e) => e.source),
  );
  if (stale.size === 0) return { entries, dropped: 0 };
  const keep = (text: string) =>
    text.split("\n").filter((line) =>
      line !== "" && !stale.has((JSON.parse(line) as { source: string }).source)
    ).map((line) => line + "\n").join("");
  await files.replaceAll({
    [KNOWLEDGE_FILE]: keep(await files.readCommitted(KNOWLEDGE_FILE)),
    [INGEST_DONE_FILE]: keep(doneText),
  }, {});
  for (const source of stale) entries.delete(source);
  return { entries, dropped: stale.size };
}

async function ingestSource(
  source: SourceFile,
  hash: string,
  options: IngestOptions,
  files: CommittedFiles<Record<string, never>>,
  config: { chunkTokens: number; overlap: number; warn: (line: string) => void },
): Promise<DoneEntry> {
  const entry: DoneEntry = {
    source: source.rel,
    hash,
    status: "done",
    chunks: 0,
    images: 0,
    imagesSkipped: 0,
    languages: {},
  };
  let chunks: DocumentChunk[];
  try {
    const bytes = await Deno.readFile(source.path).catch((e: Error) => {
      throw new DocumentSkipError(source.rel, `cannot be read (${e.message})`);
    });
    const doc = await readDocument(source.rel, bytes, {
      loadImage: (src) => loadLocalImage(source, src),
    });
    const stem = source.rel.slice(source.rel.lastIndexOf("/") + 1).replace(/\.[^.]*$/, "");
    chunks = chunkDocument(doc, stem, {
      maxTokens: config.chunkTokens,
      overlap: config.overlap,
      countTokens: options.countTokens,
    });
  } catch (e) {
    if (!(e instanceof DocumentSkipError)) throw e;
    config.warn(`warning: skipped ${source.rel}: ${e.reason}`);
    return { ...entry, status: "skipped", reason: e.reason };
  }
  const docLang = detectLanguage(chunks.map((c) => c.text).join(" ").slice(0, 4000));
  let imageIndex = 0;
  for (const chunk of chunks) {
    const images: KnowledgeImage[] = [];
    for (const image of chunk.images) {
      imageIndex++;
      const kept = await keepImage(image, imageIndex, chunk.page, hash, options.outDir);
      if ("error" in kept) {
        config.warn(`warning: skipped image ${image.name} in ${source.rel}: ${kept.error}`);
        entry.imagesSkipped++;
      } else {
        images.push(kept);
        entry.images++;
      }
    }
    if (chunk.text === "" && images.length === 0) continue;
    // Short or ambiguous chunks (a list of names) take the language of their document.
    const own: Language = chunk.text.length >= 40 ? detectLanguage(chunk.text) : "other";
    const lang = own === "other" ? docLang : own;
    const record: KnowledgeRecord = {
      id: sha256Hex(`${source.rel}\u0000${chunk.offset}\u0000${chunk.text}`).slice(0, 16),
      source: source.rel,
      title: chunk.title,
      section: chunk.section,
      page: chunk.page ?? null,
      lang,
      text: chunk.text,
      images,
      offset: chunk.offset,
      tokens: chunk.tokens,
    };
    files.appendLine(KNOWLEDGE_FILE, JSON.stringify(record));
    entry.chunks++;
    entry.languages[lang] = (entry.languages[lang] ?? 0) + 1;
  }
  return entry;
}

async function keepImage(
  image: EmbeddedImage,
  index: number,
  page: number | undefined,
  hash: string,
  outDir: string,
): Promise<KnowledgeImage | { error: string }> {
  const base: KnowledgeImage = {
    path: null,
    name: image.name,
    description: image.description,
    page: page ?? null,
    index,
    width: null,
    height: null,
  };
  if (image.bytes === undefined) return base;
  const info = checkImage(image.bytes);
  if ("error" in info) return info;
  const name = image.name.slice(image.name.lastIndexOf("/") + 1).replace(/[^\w.-]+/g, "_")
    .replace(/\.[^.]*$/, "").slice(0, 60) || "image";
  const path = `assets/${hash.slice(0, 12)}-${index}-${name}.${info.type}`;
  await Deno.mkdir(`${outDir}/assets`, { recursive: true });
  await writeFileAtomic(`${outDir}/${path}`, image.bytes);
  return { ...base, path, width: info.width, height: info.height };
}

/** Bytes of an image a page references by a relative path inside the input tree. */
function loadLocalImage(source: SourceFile, src: string): Uint8Array | undefined {
  if (/^[a-z][\w+.-]*:/i.test(src) || src.startsWith("/") || src === "") return undefined;
  const parts = source.rel.split("/").slice(0, -1);
  for (const part of decodeURIComponent(src.split(/[?#]/)[0]).split("/")) {
    if (part === "..") {
      if (parts.length === 0) return undefined; // outside the input directory
      parts.pop();
    } else if (part !== "." && part !== "") parts.push(part);
  }
  const root = source.path.slice(0, source.path.length - source.rel.length);
  try {
    return Deno.readFileSync(root + parts.join("/"));
  } catch {
    return undefined;
  }
}
