/**
 * `deno task train:absa`: trains Fast CLaRa for aspect-based sentiment on MAMS (or any MAMS/SemEval
 * XML pair), with the α/β curriculum, AdamW + warmup/cosine + clipping + the non-finite guard,
 * per-epoch validation, the best checkpoint by val macro-F1, early stopping, a time budget, a live
 * progress line, a CSV log with a loss chart, and `--resume` after an interruption.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { consistentAbsaConfig, FastClaraAbsa } from "../core/models/fast_clara_absa.ts";
import type { PositionKind } from "../core/nn/positions.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { warmupCosine } from "../core/optim/schedule.ts";
import { loadSafetensors, writeFileAtomic } from "../core/io/safetensors.ts";
import { recoverCheckpoint } from "../core/io/mod.ts";
import { Trainer } from "../core/train/mod.ts";
import { readAbsaXml } from "../datasets/absa_xml.ts";
import { resolveDataDir } from "../datasets/data_dir.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { addWholeWords, trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { readWordList, resolveWinkEmbeddingsPath } from "../datasets/glove.ts";
import { absaSpecialIds, type AbsaTask, buildAbsaExamples } from "./absa/examples.ts";
import {
  type AbsaRunConfig,
  attachRunAdapters,
  readRunConfig,
  saveAbsaModel,
} from "./absa/model_dir.ts";
import { type Curriculum, parseCurriculum } from "./absa/objective.ts";
import { absaTrainingTask } from "./absa/training.ts";
import { initEmbeddingsFromGlove } from "./absa/glove_init.ts";

/** Parsed command-line options of the task. */
export interface TrainAbsaOptions {
  data?: string;
  task: AbsaTask;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  memoryTokens: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
  dropout: number;
  maxTokens: number;
  vocabSize: number;
  seed: number;
  patience: number;
  maxMinutes: number;
  saveEvery: number;
  warmup: number;
  recRows: number;
  glove: string;
  resume: boolean;
  base?: string;
  loraRank: number;
  maxSteps: number;
  train?: string;
  val?: string;
  markAspects: boolean;
  wordDropout: number;
  labelSmoothing: number;
  embedLrScale: number;
  positions: PositionKind;
  slotMemory: boolean;
  gloveVocab: number;
  ema: number;
  aspectRegions: boolean;
  curriculum: Curriculum;
  localRadius: number;
  aspectAttention: boolean;
  weightDecay: number;
  frozenGlove: boolean;
}

/** Parses the flags (see README for each). */
export function parseTrainAbsaArgs(args: string[]): TrainAbsaOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      data: { type: "string" },
      task: { type: "string", default: "atsa" },
      out: { type: "string" },
      epochs: { type: "string", default: "12" },
      "batch-size": { type: "string", default: "32" },
      lr: { type: "string", default: "1e-3" },
      "memory-tokens": { type: "string", default: "8" },
      dim: { type: "string", default: "128" },
      layers: { type: "string", default: "2" },
      heads: { type: "string", default: "4" },
      hidden: { type: "string", default: "512" },
      dropout: { type: "string", default: "0.2" },
      "max-tokens": { type: "string", default: "64" },
      "vocab-size": { type: "string", default: "8000" },
      seed: { type: "string", default: "1" },
      patience: { type: "string", default: "3" },
      "max-minutes": { type: "string", default: "90" },
      "save-every": { type: "string", default: "50" },
      warmup: { type: "string", default: "100" },
      "rec-rows": { type: "string", default: "8" },
      glove: { type: "string", default: "auto" },
      resume: { type: "boolean", default: false },
      base: { type: "string" },
      "lora-rank": { type: "string", default: "8" },
      "max-steps": { type: "string", default: "0" },
      train: { type: "string" },
      val: { type: "string" },
      "no-mark-aspects": { type: "boolean", default: false },
      "word-dropout": { type: "string", default: "0.1" },
      "label-smoothing": { type: "string", default: "0.1" },
      "embed-lr-scale": { type: "string", default: "0.3" },
      positions: { type: "string", default: "rotary" },
      "no-slot-memory": { type: "boolean", default: false },
      "glove-vocab": { type: "string", default: "20000" },
      ema: { type: "string", default: "0.999" },
      "no-aspect-regions": { type: "boolean", default: false },
      curriculum: { type: "string", default: "" },
      "local-radius": { type: "string", default: "0" },
      "aspect-attention": { type: "boolean", default: false },
      "weight-decay": { type: "string", default: "0.01" },
      "no-frozen-glove": { type: "boolean", default: false },
    },
  });
  const num = (name: string, value: string | undefined, integer = true): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: expected ${integer ? "an integer" : "a number"}, got "${value}"`);
    }
    return n;
  };
  if (v.task !== "atsa" && v.task !== "acsa") {
    throw new Error(`--task: expected atsa or acsa, got "${v.task}"`);
  }
  if (v.positions !== "learned" && v.positions !== "sinusoidal" && v.positions !== "rotary") {
    throw new Error(`--positions: expected learned, sinusoidal or rotary, got "${v.positions}"`);
  }
  return {
    data: v.data,
    task: v.task,
    out: v.out ?? `runs/absa-${v.task}`,
    epochs: num("epochs", v.epochs),
    batchSize: num("batch-size", v["batch-size"]),
    lr: num("lr", v.lr, false),
    memoryTokens: num("memory-tokens", v["memory-tokens"]),
    dim: num("dim", v.dim),
    layers: num("layers", v.layers),
    heads: num("heads", v.heads),
    hidden: num("hidden", v.hidden),
    dropout: num("dropout", v.dropout, false),
    maxTokens: num("max-tokens", v["max-tokens"]),
    vocabSize: num("vocab-size", v["vocab-size"]),
    seed: num("seed", v.seed),
    patience: num("patience", v.patience),
    maxMinutes: num("max-minutes", v["max-minutes"], false),
    saveEvery: num("save-every", v["save-every"]),
    warmup: num("warmup", v.warmup),
    recRows: num("rec-rows", v["rec-rows"]),
    glove: v.glove!,
    resume: v.resume!,
    base: v.base,
    loraRank: num("lora-rank", v["lora-rank"]),
    maxSteps: num("max-steps", v["max-steps"]),
    train: v.train,
    val: v.val,
    markAspects: !v["no-mark-aspects"],
    wordDropout: num("word-dropout", v["word-dropout"], false),
    labelSmoothing: num("label-smoothing", v["label-smoothing"], false),
    embedLrScale: num("embed-lr-scale", v["embed-lr-scale"], false),
    positions: v.positions,
    slotMemory: !v["no-slot-memory"],
    gloveVocab: num("glove-vocab", v["glove-vocab"]),
    ema: num("ema", v.ema, false),
    aspectRegions: !v["no-aspect-regions"],
    curriculum: parseCurriculum(v.curriculum!),
    localRadius: num("local-radius", v["local-radius"]),
    aspectAttention: v["aspect-attention"]!,
    weightDecay: num("weight-decay", v["weight-decay"], false),
    frozenGlove: !v["no-frozen-glove"],
  };
}

/** Where training state lives inside `--out`. */
function paths(out: string) {
  return {
    tokenizer: `${out}/tokenizer.json`,
    config: `${out}/config.json`,
    last: `${out}/last`,
    best: `${out}/best`,
  };
}

/**
 * Adds whole-word entries to the learned vocabulary: every corpus word that has a GloVe vector,
 * and the `topWords` most frequent GloVe words, so words unseen in training still arrive as one
 * pretrained row instead of as meaningless pieces.
 */
async function withGloveWords(
  tokenizer: TextTokenizer,
  corpus: string[],
  topWords: number,
  glove: string,
): Promise<TextTokenizer> {
  const source = glove === "auto" ? await resolveWinkEmbeddingsPath() : glove;
  const gloveWords = await readWordList(source);
  const known = new Set(gloveWords);
  const corpusWords = new Set(corpus.flatMap((t) => tokenizer.preTokenize(tokenizer.normalize(t))));
  const wanted = [...corpusWords].filter((w) => known.has(w)).concat(gloveWords.slice(0, topWords));
  return new TextTokenizer(addWholeWords(tokenizer.json, wanted));
}

/** What a finished run reports. */
export interface TrainAbsaResult {
  bestF1: number;
  bestAccuracy: number;
  bestEpoch: number;
  steps: number;
  wallSeconds: number;
  compressionRatio: number;
  msPerStep: number;
  syncsPerStep: number;
}

/** Runs training; returns the best validation figures. */
export async function trainAbsa(
  o: TrainAbsaOptions,
  log: (s: string) => void = console.log,
): Promise<TrainAbsaResult> {
  const info = await device.init();
  log(`adapter: ${info.description}`);
  const p = paths(o.out);
  const dataDir = o.train && o.val
    ? ""
    : resolveDataDir({ flag: o.data, mustContain: `mams/${o.task}` });
  const trainFile = o.train ?? `${dataDir}/mams/${o.task}/train.xml`;
  const valFile = o.val ?? `${dataDir}/mams/${o.task}/val.xml`;
  const [trainSet, valSet] = await Promise.all([readAbsaXml(trainFile), readAbsaXml(valFile)]);
  log(
    `train ${trainFile}: ${trainSet.sentences.length} sentences; val ${valFile}: ${valSet.sentences.length}`,
  );
  await Deno.mkdir(o.out, { recursive: true });

  const resuming = o.resume && (await recoverCheckpoint(p.last));
  if (o.resume && !resuming) log(`--resume: no checkpoint in ${p.last}, starting fresh`);
  let tokenizer: TextTokenizer;
  let run: AbsaRunConfig;
  if (resuming) {
    tokenizer = await TextTokenizer.load(p.tokenizer);
    run = await readRunConfig(o.out);
  } else {
    const corpus = trainSet.sentences.flatMap((
      s,
    ) => [s.text, ...s.categories.map((c) => c.category)]);
    tokenizer = new TextTokenizer(trainWordPiece([...corpus, "positive negative neutral"], {
      vocabSize: o.vocabSize,
      memoryTokens: o.memoryTokens,
    }));
    if (o.gloveVocab > 0 && o.glove !== "none" && !o.base) {
      tokenizer = await withGloveWords(tokenizer, corpus, o.gloveVocab, o.glove);
    }
    // Aspect marks need term spans, which only ATSA data has; the model's own rules drop the
    // options that depend on a switched-off one.
    const model = consistentAbsaConfig({
      vocabSize: Math.ceil(tokenizer.vocabSize / 8) * 8,
      dim: o.dim,
      heads: o.heads,
      layers: o.layers,
      hidden: o.hidden,
      maxLength: o.memoryTokens + o.maxTokens + 2,
      memoryTokens: o.memoryTokens,
      labels: 3,
      dropout: o.dropout,
      seed: o.seed,
      markAspects: o.markAspects && o.task === "atsa",
      slotMemory: o.slotMemory,
      aspectRegions: o.aspectRegions,
      positions: o.positions,
      localRadius: o.localRadius,
      aspectAttention: o.aspectAttention,
      frozenWordVectors: o.frozenGlove && o.glove !== "none",
      termHead: o.curriculum.start.span > 0 || o.curriculum.end.span > 0,
    });
    if (o.base) {
      run = {
        ...(await readRunConfig(o.base)),
        adapters: ["encoder", "decoder"],
        loraRank: o.loraRank,
      };
    } else run = { model, task: o.task, maxTokens: o.maxTokens, adapters: [] };
    if (o.base) tokenizer = await TextTokenizer.load(`${o.base}/tokenizer.json`);
    const encode = (text: string) => new TextEncoder().encode(text);
    await writeFileAtomic(p.tokenizer, encode(JSON.stringify(tokenizer.json)));
    await writeFileAtomic(p.config, encode(JSON.stringify(run, null, 2) + "\n"));
  }
  const special = absaSpecialIds(tokenizer, run.model.memoryTokens);
  const build = (s: typeof trainSet.sentences) =>
    buildAbsaExamples(s, tokenizer, { task: run.task, maxTokens: run.maxTokens, special });
  const trainEx = build(trainSet.sentences);
  const valEx = build(valSet.sentences);
  const meanTokens = trainEx.reduce((n, e) => n + e.tokens.length + 2, 0) / trainEx.length;
  const compressionRatio = meanTokens / run.model.memoryTokens;
  log(
    `vocab ${tokenizer.vocabSize}; mean sentence ${meanTokens.toFixed(1)} tokens → ` +
      `${run.model.memoryTokens} memory tokens: compression ${compressionRatio.toFixed(2)}×`,
  );

  const model = new FastClaraAbsa(run.model);
  if (o.base && !resuming) {
    const { tensors } = await loadSafetensors(`${o.base}/model.safetensors`);
    model.loadStateDict(tensors);
    for (const t of Object.values(tensors)) t.dispose();
  } else if (!resuming && o.glove !== "none") {
    const hits = await initEmbeddingsFromGlove(
      model,
      tokenizer,
      o.glove === "auto" ? undefined : o.glove,
      o.out,
    );
    log(`GloVe: initialised ${hits} of ${tokenizer.vocabSize} embedding rows`);
  }
  attachRunAdapters(model, run, o.loraRank);
  const params = model.parameters();
  log(`parameters: ${model.numParameters()} (${params.reduce((n, t) => n + t.size, 0)} trainable)`);

  const stepsPerEpoch = Math.ceil(trainEx.length / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  // The token table (shared with the output layer) learns slower: it starts from GloVe and most
  // rows see few updates, so a full learning rate mostly overfits them.
  const table = model.backbone.embed.tokens.weight;
  const groups = [
    { params: params.filter((t) => t !== table) },
    ...(params.includes(table) ? [{ params: [table], lr: o.lr * o.embedLrScale }] : []),
  ];
  const opt = new AdamW(groups, {
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: warmupCosine({ warmupSteps: o.warmup, totalSteps, minRatio: 0.05 }),
  });
  const task = absaTrainingTask({
    model,
    optimizer: opt,
    special,
    train: trainEx,
    val: valEx,
    batchSize: o.batchSize,
    seed: o.seed,
    curriculum: o.curriculum,
    recRows: o.recRows,
    wordDropout: o.wordDropout,
    labelSmoothing: o.labelSmoothing,
    saveBest: (dir) => saveAbsaModel(dir, model, run, tokenizer),
  });
  // Validation, the best checkpoint and early stopping all use the averaged weights when on.
  const trainer = new Trainer(task, {
    out: o.out,
    label: "train:absa",
    epochs: o.epochs,
    seed: o.seed,
    resume: resuming,
    saveEvery: o.saveEvery,
    maxSteps: o.maxSteps,
    maxMinutes: o.maxMinutes,
    patience: o.patience,
    bestMetric: "macro_f1",
    averageDecay: o.ema,
    progressTerms: ["loss", "loss_absa", "loss_rec"],
    log,
  });
  try {
    const fit = await trainer.fit();
    const result: TrainAbsaResult = {
      bestF1: fit.best.macro_f1 ?? -1,
      bestAccuracy: fit.best.accuracy ?? 0,
      bestEpoch: fit.bestEpoch,
      steps: fit.steps,
      wallSeconds: fit.wallSeconds,
      compressionRatio,
      msPerStep: fit.msPerStep,
      syncsPerStep: fit.syncsPerStep,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    trainer.dispose();
    model.dispose();
    opt.dispose();
  }
}

if (import.meta.main) {
  try {
    await trainAbsa(parseTrainAbsaArgs(Deno.args));
  } catch (e) {
    console.error(`train:absa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
