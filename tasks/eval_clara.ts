/**
 * `deno task eval:clara --checkpoint DIR --file F.json [--setting oracle|normal] [--json]`:
 * EM/F1 of a CLaRa model (a `--stage pretrain` or `--stage instruct` output) on any HotpotQA-,
 * 2Wiki- or MuSiQue-format file, beside the uncompressed text baseline (the model's own generator
 * reading tokens, or with `--text-checkpoint DIR` a generator trained on them, `--reader text`)
 * and the two trivial baselines, all from the same run (see tasks/clara/evaluate.ts). The majority baseline counts
 * the training answers of `--majority-from FILE…` (default: the data directory's training sets
 * of the evaluated file's kind).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { writeTextFileAtomic } from "../core/io/atomic.ts";
import { resolveDataDir } from "../datasets/data_dir.ts";
import { type MultiHopExample, readMultiHopJson } from "../datasets/multihop_qa.ts";
import { majorityAnswers } from "./clara/baselines.ts";
import { DEFAULT_QA_FILES } from "./clara/data_files.ts";
import { type ClaraEvalReport, evaluateClara, type SystemScores } from "./clara/evaluate.ts";
import { loadMemoryModel, type MemoryRunConfig } from "./clara/memory_dir.ts";
import type { MemoryLM } from "../core/models/memory_lm.ts";
import type { TextTokenizer } from "../datasets/tokenizer.ts";
import { loadE2EModel } from "./clara/e2e_dir.ts";
import { type E2EEvalReport, evaluateE2E } from "./clara/e2e_report.ts";
import { readCorpusIndex } from "./clara/corpus.ts";
import { type E2ECorpusReport, evaluateE2ECorpus } from "./clara/corpus_eval.ts";

const USAGE = "usage: deno task eval:clara --checkpoint DIR --file F.json " +
  "[--setting oracle|normal|e2e] [--stage2 DIR] [--corpus INDEX] [--memory-cache DIR] [--k 5] " +
  "[--limit N] [--batch-size 16] [--max-new-tokens 16] " +
  "[--no-text-baseline] [--text-checkpoint DIR] [--shuffled-baseline] [--majority-from FILE …] [--data DIR] [--predictions OUT.jsonl] [--json]";

/** Parsed flags of eval:clara. */
export interface EvalClaraOptions {
  checkpoint: string;
  file: string;
  setting: "oracle" | "normal" | "e2e";
  /** With `--setting e2e`: a stage-2 directory for the stage-2 + BM25 row. */
  stage2?: string;
  /** With `--setting e2e`: retrieve from this index:clara output, not each example's paragraphs. */
  corpus?: string;
  /** With `--setting e2e`: a directory caching the candidates' memories across runs. */
  memoryCache?: string;
  k: number;
  limit: number;
  batchSize: number;
  maxNewTokens: number;
  textBaseline: boolean;
  /** A `--reader text` instruct output: its generator gives the text baseline. */
  textCheckpoint?: string;
  /** Also run the shuffled-memories control (each question reads the next one's memories). */
  shuffledBaseline: boolean;
  majorityFrom: string[];
  data?: string;
  /** With oracle/normal: write every system's answer per question to this JSON Lines file. */
  predictions?: string;
  json: boolean;
}

/** Parses the flags. */
export function parseEvalClaraArgs(args: string[]): EvalClaraOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      file: { type: "string" },
      setting: { type: "string", default: "oracle" },
      k: { type: "string", default: "5" },
      limit: { type: "string", default: "0" },
      "batch-size": { type: "string", default: "16" },
      "max-new-tokens": { type: "string", default: "16" },
      "no-text-baseline": { type: "boolean", default: false },
      "text-checkpoint": { type: "string" },
      "shuffled-baseline": { type: "boolean", default: false },
      "majority-from": { type: "string", multiple: true },
      data: { type: "string" },
      json: { type: "boolean", default: false },
      stage2: { type: "string" },
      corpus: { type: "string" },
      "memory-cache": { type: "string" },
      predictions: { type: "string" },
    },
  });
  if (!v.checkpoint || !v.file) throw new Error(`--checkpoint and --file are required\n${USAGE}`);
  if (v.setting !== "oracle" && v.setting !== "normal" && v.setting !== "e2e") {
    throw new Error(`--setting: expected oracle, normal or e2e, got "${v.setting}"`);
  }
  if (v.stage2 && v.setting !== "e2e") throw new Error("--stage2 DIR is for --setting e2e");
  if (v.corpus && v.setting !== "e2e") throw new Error("--corpus INDEX is for --setting e2e");
  if (v["shuffled-baseline"] && v.setting === "e2e") {
    throw new Error("--shuffled-baseline is for --setting oracle|normal");
  }
  if (v.predictions && v.setting === "e2e") {
    throw new Error("--predictions OUT.jsonl is for --setting oracle|normal");
  }
  if (v["text-checkpoint"] && (v.setting === "e2e" || v["no-text-baseline"])) {
    throw new Error(
      "--text-checkpoint DIR gives the text baseline of --setting oracle|normal " +
        "(not with --no-text-baseline)",
    );
  }
  if (v["memory-cache"] && v.setting !== "e2e") {
    throw new Error("--memory-cache DIR is for --setting e2e");
  }
  const int = (name: string, min: number): number => {
    const raw = (v as Record<string, unknown>)[name] as string;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`--${name}: expected an integer ≥ ${min}, got "${raw}"`);
    }
    return n;
  };
  return {
    checkpoint: v.checkpoint,
    file: v.file,
    setting: v.setting,
    stage2: v.stage2,
    corpus: v.corpus,
    memoryCache: v["memory-cache"],
    k: int("k", 1),
    limit: int("limit", 0),
    batchSize: int("batch-size", 1),
    maxNewTokens: int("max-new-tokens", 1),
    textBaseline: !v["no-text-baseline"],
    textCheckpoint: v["text-checkpoint"],
    shuffledBaseline: v["shuffled-baseline"]!,
    majorityFrom: v["majority-from"] ?? [],
    data: v.data,
    predictions: v.predictions,
    json: v.json!,
  };
}

async function majorityTraining(
  o: EvalClaraOptions,
  examples: readonly MultiHopExample[],
): Promise<MultiHopExample[]> {
  let files = o.majorityFrom;
  if (!files.length) {
    const dir = resolveDataDir({ flag: o.data, mustContain: DEFAULT_QA_FILES[0] });
    const all = DEFAULT_QA_FILES.map((f) => `${dir}/${f}`);
    const kind = { hotpotqa: "hotpotqa/", "2wiki": "2wiki/", musique: "musique/" }[
      examples[0]?.source ?? "hotpotqa"
    ];
    files = all.filter((f) => f.includes(kind));
    if (!files.length) files = all;
  }
  const train: MultiHopExample[] = [];
  for (const f of files) train.push(...await readMultiHopJson(f));
  return train;
}

/**
 * Runs the evaluation; returns the report. With `o.predictions`, also writes one JSON line per
 * question with every system's answer ({@linkcode ClaraPrediction}).
 */
export async function evalClara(
  o: EvalClaraOptions,
  progress: (done: number, total: number) => void = () => {},
): Promise<ClaraEvalReport> {
  const setting = o.setting;
  if (setting === "e2e") throw new Error("evalClara: --setting e2e runs through evalClaraE2E");
  const all = await readMultiHopJson(o.file);
  const examples = o.limit ? all.slice(0, o.limit) : all;
  if (examples.length === 0) throw new Error(`${o.file}: no examples`);
  const majority = majorityAnswers(await majorityTraining(o, examples));
  await device.init();
  const { model, run, tokenizer } = await loadMemoryModel(o.checkpoint);
  let textReader: { model: MemoryLM; dir: string } | undefined;
  try {
    if (o.textCheckpoint) {
      textReader = await loadTextReader(o.textCheckpoint, o.checkpoint, run, tokenizer);
    }
    const { report, predictions } = await evaluateClara(
      model,
      tokenizer,
      run,
      o.file,
      examples,
      majority,
      {
        setting,
        k: o.k,
        batchSize: o.batchSize,
        maxNewTokens: o.maxNewTokens,
        textBaseline: o.textBaseline,
        shuffledBaseline: o.shuffledBaseline,
        textReader,
        onProgress: progress,
      },
    );
    if (o.predictions) {
      const lines = predictions.map((p) => JSON.stringify(p) + "\n").join("");
      await writeTextFileAtomic(o.predictions, lines);
    }
    return report;
  } finally {
    model.dispose();
    textReader?.model.dispose();
  }
}

/**
 * The `--reader text` generator of `dir`, checked to read what the memory model of `checkpoint`
 * reads: the same tokenizer and the same document cut, so both see the same documents.
 */
async function loadTextReader(
  dir: string,
  checkpoint: string,
  run: MemoryRunConfig,
  tokenizer: TextTokenizer,
): Promise<{ model: MemoryLM; dir: string }> {
  const text = await loadMemoryModel(dir, { readers: ["text"] });
  const mismatch = text.tokenizer.vocabSize !== tokenizer.vocabSize
    ? `a vocabulary of ${text.tokenizer.vocabSize} tokens, not ${tokenizer.vocabSize}`
    : text.run.memory.docTokens !== run.memory.docTokens
    ? `documents cut at ${text.run.memory.docTokens} tokens, not ${run.memory.docTokens}`
    : null;
  if (mismatch) {
    text.model.dispose();
    throw new Error(`--text-checkpoint ${dir}: ${mismatch} as in ${checkpoint}`);
  }
  return { model: text.model, dir };
}

/**
 * Runs `--setting e2e` on an e2e checkpoint: over each example's own paragraphs
 * (tasks/clara/e2e_report.ts) or, with `--corpus`, over a whole index (tasks/clara/corpus_eval.ts).
 */
export async function evalClaraE2E(
  o: EvalClaraOptions,
  progress: (what: string) => void = () => {},
): Promise<E2EEvalReport | E2ECorpusReport> {
  const all = await readMultiHopJson(o.file);
  const examples = o.limit ? all.slice(0, o.limit) : all;
  if (examples.length === 0) throw new Error(`${o.file}: no examples`);
  await device.init();
  const { model, run, tokenizer } = await loadE2EModel(o.checkpoint);
  const stage2 = o.stage2 ? (await loadMemoryModel(o.stage2)).model : undefined;
  try {
    if (o.corpus) {
      const index = await readCorpusIndex(o.corpus);
      if (run.unfreezeCompressor && index.checkpoint !== o.checkpoint) {
        progress(
          `warning: ${o.checkpoint} trained its compressor, but ${o.corpus} was written with ` +
            `${index.checkpoint}'s; index the corpus with --checkpoint ${o.checkpoint}`,
        );
      }
      return await evaluateE2ECorpus(model, tokenizer, run, o.file, examples, index, {
        k: o.k,
        batchSize: o.batchSize,
        maxNewTokens: o.maxNewTokens,
        stage2,
        onProgress: progress,
      });
    }
    return await evaluateE2E(model, tokenizer, run, o.file, examples, {
      k: o.k,
      batchSize: o.batchSize,
      maxNewTokens: o.maxNewTokens,
      stage2,
      memoryCache: o.memoryCache,
      onProgress: progress,
    });
  } finally {
    model.dispose();
    stage2?.dispose();
  }
}

function line(name: string, s: SystemScores): string {
  const types = Object.entries(s.by_type).map(([t, v]) =>
    `${t} ${(100 * v.f1).toFixed(1)} (${v.n})`
  ).join(", ");
  return `${name.padEnd(18)} EM ${(100 * s.em).toFixed(1).padStart(5)}  F1 ${
    (100 * s.f1).toFixed(1).padStart(5)
  }  [F1 by type: ${types}]  commonest "${s.commonest_answer}" ${
    (100 * s.commonest_share).toFixed(1)
  } %`;
}

/** The human-readable table of a report. */
export function formatReport(r: ClaraEvalReport): string {
  const rate = r.compression === null ? `${r.memory_tokens} memory tokens` : `${r.compression}×`;
  return [
    `${r.file}: ${r.n} questions, ${r.setting} setting, ${r.k} documents (gold recall ${
      (100 * r.recall_at_k).toFixed(1)
    } %), compression ${rate}`,
    line("CLaRa (memories)", r),
    ...(r.text_baseline
      ? [line(r.text_baseline_from ? "text (trained)" : "text baseline", r.text_baseline)]
      : []),
    ...(r.text_shuffled_baseline ? [line("shuffled text", r.text_shuffled_baseline)] : []),
    ...(r.shuffled_baseline ? [line("shuffled memories", r.shuffled_baseline)] : []),
    line("majority per type", r.majority_baseline),
    line("overlap span", r.overlap_baseline),
    ...Object.entries(r.f1_differences).map(([pair, d]) =>
      `F1 ${pair.replace("_minus_", " − ").padEnd(24)} ${(100 * d.diff).toFixed(1).padStart(5)}  ${
        100 * d.level
      } % interval ${(100 * d.lo).toFixed(1)} … ${(100 * d.hi).toFixed(1)} (paired bootstrap)`
    ),
    `${r.seconds.toFixed(0)} s`,
  ].join("\n");
}

if (import.meta.main) {
  try {
    const o = parseEvalClaraArgs(Deno.args);
    // Progress goes to stderr, so stdout holds only the report (one JSON object with --json).
    if (o.setting === "e2e") {
      const report = await evalClaraE2E(o, (what) => console.error(what));
      console.log(JSON.stringify(report, null, o.json ? undefined : 2));
    } else {
      const report = await evalClara(o, (done, total) => {
        Deno.stderr.writeSync(new TextEncoder().encode(`\r${done}/${total} answers`));
      });
      console.log(o.json ? JSON.stringify(report) : `\n${formatReport(report)}`);
    }
  } catch (e) {
    console.error(`eval:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
