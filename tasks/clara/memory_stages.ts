/**
 * `train:clara --stage pretrain` (SCP: salient compressor pretraining) and `--stage instruct`
 * (compression instruction tuning), each on the shared trainer, each starting from the previous
 * stage's output: pretrain builds the compressor and generator LoRA on the stage-lm base
 * (`runs/clara-lm/best`), instruct continues from `runs/clara-pretrain/best` with the compressor
 * frozen unless `--unfreeze-compressor`. Resumable (`--resume`), deterministic per seed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../../core/device.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import type { MemoryLayout } from "../../core/models/memory_batch.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { warmupCosine } from "../../core/optim/schedule.ts";
import { Trainer } from "../../core/train/mod.ts";
import { resolveDataDir } from "../../datasets/data_dir.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { DEFAULT_QA_FILES, DEFAULT_WIKI_FILE } from "./data_files.ts";
import { evenlySpaced, holdOut } from "./lm_data.ts";
import type { DocumentReader, MemoryExample } from "./memory_batch.ts";
import { memoryTrainingTask } from "./memory_training.ts";
import { type HeldOutQuestion, memoryQaScores, targetTokenAccuracy } from "./memory_eval.ts";
import {
  loadMemoryModel,
  memoryModelFromBase,
  type MemoryOptions,
  type MemoryRunConfig,
  saveMemoryModel,
} from "./memory_dir.ts";
import { scpExample, scpItems, synthesizedPretrainRecords } from "./scp_data.ts";
import { type DocumentOrder, instructExample, qaInstructionRecords } from "./instruct_data.ts";
import { readInstructionRecords, readPretrainRecords } from "./stage_records.ts";
import { claraSpecial } from "./tokens.ts";
import { withNextDocuments } from "./shuffled_control.ts";

/** Positions the memory model is built for: memories of several documents, prompt and target. */
export const MEMORY_MAX_LENGTH = 1024;
/** Most documents an SCP item is compressed from. */
const MAX_SCP_DOCS = 4;

/** Parsed flags of the memory stages. */
export interface MemoryStageOptions {
  stage: "pretrain" | "instruct";
  /** The previous stage's model directory. */
  from: string;
  out: string;
  data?: string;
  /** Stage files (pretrain.jsonl / instruction.jsonl); in-process conversion when empty. */
  files: string[];
  /** Text files for the in-process SCP records (default: the data directory's wiki text). */
  text: string[];
  /** QA files for the in-process records (default: the data directory's training sets). */
  qa: string[];
  wikiParagraphs: number;
  compression?: number;
  memoryTokens?: number;
  rank: number;
  docTokens: number;
  targetTokens: number;
  answerTokens: number;
  docsPerQuestion: number;
  /** Instruct: the read order of a question's documents (`bm25`, or as the record lists them). */
  docOrder: DocumentOrder;
  mseWeight: number;
  /** Pretrain: how memory tokens sit beside the document. */
  memoryLayout: MemoryLayout;
  unfreezeCompressor: boolean;
  /** Pretrain: train every weight of the base too, not only the adapters and memory vectors. */
  trainBase: boolean;
  /** Instruct: give the generator a prompt-copy head (when the checkpoint has none). */
  copy: boolean;
  /** Instruct: that head's pointer learns the follow bonus (`MemoryLM`'s `copyFollow`). */
  copyFollow: boolean;
  /** Instruct: the generator reads the documents' memories, or their tokens (the text baseline). */
  reader: DocumentReader;
  maxTrainExamples: number;
  evalExamples: number;
  holdOutEvery: number;
  epochs: number;
  batchSize: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  seed: number;
  maxSteps: number;
  maxMinutes: number;
  saveEvery: number;
  resume: boolean;
}

/** Parses `train:clara --stage pretrain|instruct` flags (see README). */
export function parseMemoryStageArgs(args: string[]): MemoryStageOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      stage: { type: "string" },
      from: { type: "string" },
      out: { type: "string" },
      data: { type: "string" },
      pretrain: { type: "string", multiple: true },
      instruct: { type: "string", multiple: true },
      text: { type: "string", multiple: true },
      qa: { type: "string", multiple: true },
      "wiki-paragraphs": { type: "string", default: "600" },
      compression: { type: "string" },
      "memory-tokens": { type: "string" },
      rank: { type: "string", default: "8" },
      "doc-tokens": { type: "string", default: "96" },
      "target-tokens": { type: "string", default: "48" },
      "answer-tokens": { type: "string", default: "16" },
      "docs-per-question": { type: "string", default: "5" },
      "doc-order": { type: "string" },
      "mse-weight": { type: "string", default: "1" },
      "memory-layout": { type: "string" },
      "unfreeze-compressor": { type: "boolean", default: false },
      "train-base": { type: "boolean", default: false },
      copy: { type: "string" },
      "copy-follow": { type: "string" },
      reader: { type: "string" },
      "max-train-examples": { type: "string", default: "4000" },
      "eval-examples": { type: "string", default: "64" },
      "hold-out-every": { type: "string", default: "20" },
      epochs: { type: "string", default: "2" },
      "batch-size": { type: "string", default: "8" },
      lr: { type: "string", default: "2e-3" },
      warmup: { type: "string", default: "30" },
      "weight-decay": { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      "max-steps": { type: "string", default: "0" },
      "max-minutes": { type: "string", default: "60" },
      "save-every": { type: "string", default: "50" },
      resume: { type: "boolean", default: false },
    },
  });
  const stage = v.stage;
  if (stage !== "pretrain" && stage !== "instruct") {
    throw new Error(`--stage: expected pretrain or instruct here, got ${JSON.stringify(stage)}`);
  }
  const num = (name: string, integer = true): number => {
    const raw = (v as Record<string, unknown>)[name] as string;
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: expected ${integer ? "an integer" : "a number"}, got "${raw}"`);
    }
    return n;
  };
  const wrong = stage === "pretrain" ? "instruct" : "pretrain";
  if (v[wrong]?.length) throw new Error(`--${wrong} FILE is for --stage ${wrong}`);
  if (stage === "instruct" && (v.compression || v["memory-tokens"] || v["mse-weight"] !== "1")) {
    throw new Error(
      "--compression, --memory-tokens and --mse-weight are fixed by the pretrain checkpoint",
    );
  }
  if (stage === "instruct" && v["memory-layout"] !== undefined) {
    throw new Error("--memory-layout is fixed by the pretrain checkpoint");
  }
  if (stage === "instruct" && v["train-base"]) {
    throw new Error("--train-base is a flag of --stage pretrain (instruct trains the generator)");
  }
  const layout = v["memory-layout"] ?? "appended";
  if (layout !== "appended" && layout !== "chunked") {
    throw new Error(`--memory-layout: expected appended or chunked, got "${layout}"`);
  }
  for (const flag of ["copy", "copy-follow"] as const) {
    if (stage === "pretrain" && v[flag] !== undefined) {
      throw new Error(
        `--${flag} is a flag of --stage instruct (the pretrain generator does not copy)`,
      );
    }
    if (v[flag] !== undefined && v[flag] !== "0" && v[flag] !== "1") {
      throw new Error(`--${flag}: expected 1 or 0, got "${v[flag]}"`);
    }
  }
  const docOrder = v["doc-order"] ?? "bm25";
  if (docOrder !== "bm25" && docOrder !== "file") {
    throw new Error(`--doc-order: expected bm25 or file, got "${docOrder}"`);
  }
  if (stage === "pretrain" && v["doc-order"] !== undefined) {
    throw new Error("--doc-order is a flag of --stage instruct (pretrain reads one document)");
  }
  const reader = v.reader ?? "memory";
  if (reader !== "memory" && reader !== "text") {
    throw new Error(`--reader: expected memory or text, got "${reader}"`);
  }
  if (stage === "pretrain" && v.reader !== undefined) {
    throw new Error("--reader is a flag of --stage instruct (pretrain trains the compressor)");
  }
  if (reader === "text" && v["unfreeze-compressor"]) {
    throw new Error("--unfreeze-compressor: a --reader text generator reads no memories");
  }
  if (v.copy === "0" && v["copy-follow"] === "1") {
    throw new Error("--copy-follow 1 needs the copy head (--copy 1)");
  }
  if (v.compression && v["memory-tokens"]) {
    throw new Error("--compression and --memory-tokens exclude each other");
  }
  const compression = v.compression
    ? num("compression", false)
    : v["memory-tokens"]
    ? undefined
    : 4;
  if (compression !== undefined && !(compression >= 1 && compression <= 256)) {
    throw new Error(`--compression: expected 1 … 256, got ${compression}`);
  }
  return {
    stage,
    from: v.from ?? (stage === "pretrain" ? "runs/clara-lm/best" : "runs/clara-pretrain/best"),
    out: v.out ?? `runs/clara-${stage}`,
    data: v.data,
    files: (stage === "pretrain" ? v.pretrain : v.instruct) ?? [],
    text: v.text ?? [],
    qa: v.qa ?? [],
    wikiParagraphs: num("wiki-paragraphs"),
    compression,
    memoryTokens: v["memory-tokens"] ? num("memory-tokens") : undefined,
    rank: num("rank"),
    docTokens: num("doc-tokens"),
    targetTokens: num("target-tokens"),
    answerTokens: num("answer-tokens"),
    docsPerQuestion: num("docs-per-question"),
    docOrder,
    mseWeight: num("mse-weight", false),
    memoryLayout: layout,
    unfreezeCompressor: v["unfreeze-compressor"]!,
    trainBase: v["train-base"]!,
    copy: stage === "instruct" && v.copy !== "0",
    copyFollow: stage === "instruct" && v.copy !== "0" && v["copy-follow"] !== "0",
    reader,
    maxTrainExamples: num("max-train-examples"),
    evalExamples: num("eval-examples"),
    holdOutEvery: num("hold-out-every"),
    epochs: num("epochs"),
    batchSize: num("batch-size"),
    lr: num("lr", false),
    warmup: num("warmup"),
    weightDecay: num("weight-decay", false),
    seed: num("seed"),
    maxSteps: num("max-steps"),
    maxMinutes: num("max-minutes", false),
    saveEvery: num("save-every"),
    resume: v.resume!,
  };
}

/** What a memory stage reports. */
export interface MemoryStageResult {
  stage: "pretrain" | "instruct";
  /** The held-out metrics of the best (or, after --max-steps, the last) model. */
  metrics: Record<string, number>;
  steps: number;
  trainExamples: number;
  heldOutExamples: number;
  compression: number | null;
  memoryTokens: number;
  wallSeconds: number;
  msPerStep: number;
}

/** The default QA training files of the data directory. */
function qaFiles(o: MemoryStageOptions): { text: string[]; qa: string[] } {
  if (o.text.length || o.qa.length) return { text: o.text, qa: o.qa };
  const dir = resolveDataDir({ flag: o.data, mustContain: DEFAULT_QA_FILES[0] });
  return {
    text: [`${dir}/${DEFAULT_WIKI_FILE}`],
    qa: DEFAULT_QA_FILES.map((f) => `${dir}/${f}`),
  };
}

interface StageData {
  train: MemoryExample[];
  evaluate(model: MemoryLM): Promise<Record<string, number>>;
  metrics: string[];
  heldOut: number;
}

async function pretrainData(
  o: MemoryStageOptions,
  tokenizer: TextTokenizer,
  log: (s: string) => void,
): Promise<StageData> {
  const sources = qaFiles(o);
  const records = [];
  if (o.files.length) { for (const f of o.files) records.push(...await readPretrainRecords(f)); }
  else {
    records.push(...await synthesizedPretrainRecords(sources.text, sources.qa, o.wikiParagraphs));
  }
  const limited = records.map((r) => ({ ...r, docs: r.docs.slice(0, MAX_SCP_DOCS) }));
  const { train, heldOut } = holdOut(limited, o.holdOutEvery);
  const toExample = (i: ReturnType<typeof scpItems>[number]) =>
    scpExample(tokenizer, i, o.docTokens, o.targetTokens);
  const trainItems = scpItems(train);
  const picked = evenlySpaced(trainItems.length, o.maxTrainExamples).map((i) => trainItems[i]);
  const held = scpItems(heldOut);
  const recon = held.filter((i) => i.kind === "reconstruction");
  const qa = held.filter((i) => i.kind === "qa");
  const reconEval = evenlySpaced(recon.length, o.evalExamples).map((i) => toExample(recon[i]));
  const qaEval: HeldOutQuestion[] = evenlySpaced(qa.length, o.evalExamples).map((i) => ({
    example: toExample(qa[i]),
    answers: [qa[i].target],
  }));
  log(
    `SCP records: ${records.length} (${train.length} train, ${heldOut.length} held out); ` +
      `items: ${picked.length} of ${trainItems.length} train (${
        ["qa", "paraphrase", "reconstruction"].map((k) =>
          `${picked.filter((i) => i.kind === k).length} ${k}`
        ).join(", ")
      }), held out ${reconEval.length} reconstruction + ${qaEval.length} QA`,
  );
  if (!reconEval.length || !qaEval.length) {
    throw new Error("SCP: no held-out reconstruction or QA items (more records are needed)");
  }
  const batch = Math.max(1, o.batchSize);
  return {
    train: picked.map(toExample),
    metrics: ["recon_accuracy", "recon_accuracy_shuffled", "qa_f1", "qa_em"],
    heldOut: reconEval.length + qaEval.length,
    async evaluate(model) {
      const pad = claraSpecial(tokenizer).pad;
      const recon = await targetTokenAccuracy(model, reconEval, pad, batch);
      const control = await targetTokenAccuracy(model, withNextDocuments(reconEval), pad, batch);
      const scores = await memoryQaScores(model, tokenizer, qaEval, {
        batchSize: batch,
        maxNewTokens: o.answerTokens,
      });
      return {
        recon_accuracy: recon,
        recon_accuracy_shuffled: control,
        qa_f1: scores.f1,
        qa_em: scores.em,
      };
    },
  };
}

async function instructData(
  o: MemoryStageOptions,
  tokenizer: TextTokenizer,
  docTokens: number,
  log: (s: string) => void,
): Promise<StageData> {
  const records = [];
  if (o.files.length) { for (const f of o.files) records.push(...await readInstructionRecords(f)); }
  else records.push(...await qaInstructionRecords(qaFiles(o).qa));
  const { train, heldOut } = holdOut(records, o.holdOutEvery);
  const shape = {
    docsPerQuestion: o.docsPerQuestion,
    docOrder: o.docOrder,
    docTokens,
    answerTokens: o.answerTokens,
  };
  const picked = evenlySpaced(train.length, o.maxTrainExamples).map((i) => train[i]);
  const held = evenlySpaced(heldOut.length, o.evalExamples).map((i) => heldOut[i]);
  const questions: HeldOutQuestion[] = held.map((r) => ({
    example: instructExample(tokenizer, r, shape),
    answers: [r.answer],
  }));
  log(
    `instruction records: ${records.length}; ${picked.length} train, ${questions.length} ` +
      `held out; ${o.docsPerQuestion} documents per question (gold + BM25 distractors, ` +
      `${o.docOrder === "bm25" ? "in BM25 order" : "in the records' order"})`,
  );
  if (!questions.length) throw new Error("instruct: no held-out questions");
  const shuffledExamples = withNextDocuments(questions.map((q) => q.example));
  const shuffledQuestions = questions.map((q, i) => ({ ...q, example: shuffledExamples[i] }));
  const reader = o.reader;
  return {
    train: picked.map((r) => instructExample(tokenizer, r, shape)),
    metrics: ["f1", "em", "f1_shuffled"],
    heldOut: questions.length,
    async evaluate(model) {
      const scoring = { batchSize: Math.max(1, o.batchSize), maxNewTokens: o.answerTokens, reader };
      const s = await memoryQaScores(model, tokenizer, questions, scoring);
      const control = await memoryQaScores(model, tokenizer, shuffledQuestions, scoring);
      return { f1: s.f1, em: s.em, f1_shuffled: control.f1 };
    },
  };
}

/** The parameters that stay frozen in instruct unless the compressor is unfrozen. */
export const COMPRESSOR_PARAMETERS = /(\.lora_compressor\.|^memory_embeddings\.)/;

/** Runs a memory stage; returns its held-out metrics. */
export async function runMemoryStage(
  o: MemoryStageOptions,
  log: (s: string) => void = console.log,
): Promise<MemoryStageResult> {
  const info = await device.init();
  log(`adapter: ${info.description}`);
  let model: MemoryLM, tokenizer: TextTokenizer, run: MemoryRunConfig;
  if (o.stage === "pretrain") {
    const memory: MemoryOptions = {
      memoryTokens: o.memoryTokens ?? Math.ceil(o.docTokens / o.compression!),
      compressionRate: o.memoryTokens ? undefined : o.compression,
      rank: o.rank,
      docTokens: o.docTokens,
      ...(o.memoryLayout === "chunked" ? { memoryLayout: o.memoryLayout } : {}),
    };
    const built = await memoryModelFromBase(o.from, memory, MEMORY_MAX_LENGTH);
    model = built.model;
    tokenizer = built.tokenizer;
    run = { format: "fast-clara-memory/1", stage: "pretrain", base: built.base, memory };
    if (o.trainBase) {
      model.unfreeze(/.*/);
      run.baseTrained = true;
    }
  } else {
    // A text reader may continue from a memory model (its pretrain) or from another text reader.
    const loaded = await loadMemoryModel(o.from, {
      addPromptCopy: o.copy,
      copyFollow: o.copyFollow,
      readers: o.reader === "text" ? ["memory", "text"] : ["memory"],
    });
    model = loaded.model;
    tokenizer = loaded.tokenizer;
    run = { ...loaded.run, stage: "instruct", ...(o.reader === "text" ? { reader: "text" } : {}) };
    if (!o.unfreezeCompressor) model.freeze(COMPRESSOR_PARAMETERS);
  }
  const data = o.stage === "pretrain"
    ? await pretrainData(o, tokenizer, log)
    : await instructData(o, tokenizer, run.memory.docTokens, log);
  if (data.train.length === 0) throw new Error(`--stage ${o.stage}: no training examples`);
  const frozen = o.stage === "instruct" && !o.unfreezeCompressor;
  const params = model.parameters();
  log(
    `memory model: ${model.numParameters()} parameters, ${
      params.reduce((n, p) => n + p.size, 0)
    } trainable; ${
      o.stage === "instruct" && o.reader === "text"
        ? "the generator reads the documents' tokens (text baseline)"
        : `l = ${
          run.memory.compressionRate
            ? `⌈doc tokens / ${run.memory.compressionRate}⌉ ≤ ${run.memory.memoryTokens}`
            : run.memory.memoryTokens
        }`
    }${frozen ? "; compressor frozen" : ""}${o.trainBase ? "; base trained" : ""}`,
  );
  // The schedule depends on the epochs only, so a run stopped by --max-steps resumes exactly.
  const totalSteps = Math.ceil(data.train.length / o.batchSize) * o.epochs;
  const opt = new AdamW(params, {
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: warmupCosine({
      warmupSteps: Math.min(o.warmup, totalSteps),
      totalSteps,
      minRatio: 0.1,
    }),
  });
  const task = memoryTrainingTask({
    model,
    optimizer: opt,
    train: data.train,
    pad: claraSpecial(tokenizer).pad,
    batchSize: o.batchSize,
    seed: o.seed,
    mseWeight: o.stage === "pretrain" ? o.mseWeight : 0,
    frozenCompressor: frozen,
    reader: o.stage === "instruct" ? o.reader : "memory",
    metrics: data.metrics,
    evaluate: () => data.evaluate(model),
    saveBest: (dir) => saveMemoryModel(dir, model, run, tokenizer),
  });
  const trainer = new Trainer(task, {
    out: o.out,
    label: `train:clara ${o.stage}`,
    epochs: o.epochs,
    seed: o.seed,
    resume: o.resume,
    saveEvery: o.saveEvery,
    maxSteps: o.maxSteps,
    maxMinutes: o.maxMinutes,
    progressTerms: ["loss_ce", "loss_mse"],
    log,
  });
  try {
    const fit = await trainer.fit();
    let metrics = fit.best;
    if (fit.bestEpoch < 0) {
      // Stopped before an epoch ended (--max-steps): measure and keep the last weights.
      metrics = await data.evaluate(model);
      await saveMemoryModel(`${o.out}/best`, model, run, tokenizer);
      log(`held-out after ${fit.steps} steps: ${JSON.stringify(metrics)} → ${o.out}/best`);
    }
    const result: MemoryStageResult = {
      stage: o.stage,
      metrics,
      steps: fit.steps,
      trainExamples: data.train.length,
      heldOutExamples: data.heldOut,
      compression: run.memory.compressionRate ?? null,
      memoryTokens: run.memory.memoryTokens,
      wallSeconds: fit.wallSeconds,
      msPerStep: fit.msPerStep,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    trainer.dispose();
    model.dispose();
    opt.dispose();
  }
}
