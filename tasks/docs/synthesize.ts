/**
 * The synthesize pipeline behind `deno task docs:synthesize`: each chunk of a knowledge JSONL
 * goes through a synthesizer (offline or endpoint) and its summary, QA pairs and paraphrases are
 * written in the CLaRa stage formats. Chunks run up to `concurrency` at a time but are written in
 * input order, and progress is committed like ingest's, so a killed run resumes to the same bytes
 * an uninterrupted run writes; chunks already done are skipped. A malformed reply drops only its
 * chunk (with a warning; the next run tries it again); a wrong key, URL or model stops the run
 * with the reason.
 *
 * @module
 */
import { Progress, type ProgressOptions } from "../../core/io/progress.ts";
import { EndpointError } from "./chat_client.ts";
import { CommittedFiles } from "./committed_files.ts";
import { type KnowledgeRecord, parseKnowledge } from "./knowledge.ts";
import { MalformedReplyError } from "./llm_synth.ts";
import { instructionRecords, pretrainRecords, type Synthesis } from "./stage_records.ts";

/** Stage-1 records (qa, paraphrase). */
export const PRETRAIN_FILE = "pretrain.jsonl";
/** Stage-2/3 records (instruction). */
export const INSTRUCTION_FILE = "instruction.jsonl";
/** One summary per chunk. */
export const SUMMARIES_FILE = "summaries.jsonl";
/** One line per chunk handled: `{id, status, reason?}`. */
export const SYNTH_DONE_FILE = "synth_done.jsonl";
/** The commit marker. */
export const SYNTH_STATE_FILE = "synth_state.json";

/** Makes the synthesis of one chunk; undefined when the chunk has nothing to work from. */
export type Synthesizer = (record: KnowledgeRecord) => Promise<Synthesis | undefined>;

/** Options of {@linkcode runSynthesize}. */
export interface SynthesizeOptions {
  /** Path of the knowledge JSONL (docs:ingest's raw_knowledge.jsonl). */
  input: string;
  outDir: string;
  synthesizer: Synthesizer;
  /** What must match when resuming (mode, model, cross-lingual target). */
  settings: Record<string, unknown>;
  /** Chunks in flight at once (default 1). */
  concurrency?: number;
  fresh?: boolean;
  warn?: (line: string) => void;
  progress?: ProgressOptions;
  /** Milliseconds between commits (default 1000; 0 commits after every chunk). */
  commitIntervalMs?: number;
  /** Stop after this many failed chunks in a row (default 10). */
  maxConsecutiveFailures?: number;
}

/** Counters over the whole output directory. */
export interface SynthesisCounts {
  synthesized: number;
  /** Chunks with no text to work from (an image without a vision model). */
  empty: number;
  qaPairs: number;
  paraphrases: number;
  summaries: number;
  pretrainRecords: number;
  instructionRecords: number;
}

/** What a synthesize run did. */
export interface SynthesizeSummary extends SynthesisCounts {
  chunks: number;
  /** Chunks dropped in this run (retried by the next run). */
  failed: number;
  /** Chunks done by an earlier run. */
  resumed: number;
  /** Chunks handled in this run. */
  handled: number;
  seconds: number;
}

type Outcome =
  | { status: "ok"; synthesis: Synthesis }
  | { status: "failed"; reason: string }
  | { status: "empty" };

/** Runs the pipeline; returns the summary (throws on a fatal endpoint error, after committing). */
export async function runSynthesize(options: SynthesizeOptions): Promise<SynthesizeSummary> {
  const start = performance.now();
  const warn = options.warn ?? ((line: string) => console.error(line));
  const interval = options.commitIntervalMs ?? 1000;
  const records = parseKnowledge(options.input, await Deno.readTextFile(options.input));
  const files = await CommittedFiles.open<SynthesisCounts>(options.outDir, {
    stateFile: SYNTH_STATE_FILE,
    files: [PRETRAIN_FILE, INSTRUCTION_FILE, SUMMARIES_FILE, SYNTH_DONE_FILE],
    kind: "docs:synthesize",
    settings: options.settings,
    initial: {
      synthesized: 0,
      empty: 0,
      qaPairs: 0,
      paraphrases: 0,
      summaries: 0,
      pretrainRecords: 0,
      instructionRecords: 0,
    },
    fresh: options.fresh,
  });
  // A failed chunk is not done: the next run tries it again.
  const done = new Set(
    (await files.readCommitted(SYNTH_DONE_FILE)).split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { id: string; status: string })
      .filter((l) => l.status !== "failed").map((l) => l.id),
  );
  const seen = new Set<string>();
  const pending = records.filter((r) => {
    const fresh = !done.has(r.id) && !seen.has(r.id);
    seen.add(r.id);
    return fresh;
  });
  const counts = { ...files.state.extra };
  const progress = new Progress(pending.length, { label: "synthesize", ...options.progress });
  const limit = Math.max(1, options.concurrency ?? 1);
  const maxFailures = options.maxConsecutiveFailures ?? 10;
  const run = (record: KnowledgeRecord): Promise<Outcome> =>
    options.synthesizer(record).then(
      (synthesis): Outcome => (synthesis ? { status: "ok", synthesis } : { status: "empty" }),
      (e): Outcome => {
        if ((e instanceof EndpointError && !e.fatal) || e instanceof MalformedReplyError) {
          return { status: "failed", reason: (e as Error).message };
        }
        throw e;
      },
    );
  const inFlight: Promise<Outcome>[] = [];
  let next = 0;
  let consecutive = 0;
  let failed = 0;
  let lastCommit = performance.now();
  try {
    for (let i = 0; i < pending.length; i++) {
      while (next < pending.length && inFlight.length < limit) inFlight.push(run(pending[next++]));
      const outcome = await inFlight.shift()!;
      const record = pending[i];
      write(files, record, outcome, counts);
      if (outcome.status === "failed") {
        failed++;
        warn(`warning: chunk ${record.id} (${record.source}) dropped: ${outcome.reason}`);
        if (++consecutive >= maxFailures) {
          throw new Error(`${consecutive} chunks in a row failed; last: ${outcome.reason}`);
        }
      } else consecutive = 0;
      if (performance.now() - lastCommit >= interval) {
        await files.commit({ ...counts });
        lastCommit = performance.now();
      }
      // The last step is shown by finish().
      if (i + 1 < pending.length) {
        progress.update(i + 1, `${counts.qaPairs} QA pairs, ${failed} failed`);
      }
    }
  } finally {
    await Promise.allSettled(inFlight);
    await files.commit({ ...counts });
  }
  progress.finish(`${counts.qaPairs} QA pairs, ${failed} failed`);
  return {
    ...counts,
    failed,
    chunks: records.length,
    resumed: records.length - pending.length,
    handled: pending.length,
    seconds: (performance.now() - start) / 1000,
  };
}

function write(
  files: CommittedFiles<SynthesisCounts>,
  record: KnowledgeRecord,
  outcome: Outcome,
  counts: SynthesisCounts,
): void {
  if (outcome.status === "ok") {
    const s = outcome.synthesis;
    const pretrain = pretrainRecords(record.text, s);
    const instruction = instructionRecords(record.text, s);
    for (const r of pretrain) files.appendLine(PRETRAIN_FILE, JSON.stringify(r));
    for (const r of instruction) files.appendLine(INSTRUCTION_FILE, JSON.stringify(r));
    if (s.summary !== "") {
      files.appendLine(
        SUMMARIES_FILE,
        JSON.stringify({
          id: record.id,
          source: record.source,
          title: record.title,
          section: record.section,
          page: record.page,
          lang: record.lang,
          summary: s.summary,
          ...(s.imageDescriptions ? { images: s.imageDescriptions } : {}),
        }),
      );
      counts.summaries++;
    }
    counts.synthesized++;
    counts.qaPairs += s.qa.length;
    counts.paraphrases += s.paraphrases.length;
    counts.pretrainRecords += pretrain.length;
    counts.instructionRecords += instruction.length;
  } else if (outcome.status === "empty") counts.empty++;
  const line = outcome.status === "failed"
    ? { id: record.id, status: "failed", reason: outcome.reason }
    : { id: record.id, status: outcome.status };
  files.appendLine(SYNTH_DONE_FILE, JSON.stringify(line));
}
