/**
 * `deno task train:latent-qa --model latent|baseline`: trains the latent-bottleneck QA model
 * (question states + 32 gated Perceiver latents over a 768-token context) or its concatenation
 * baseline (question + context cut to 512 tokens) on multi-hop QA, through the shared trainer:
 * resume, best checkpoint by val F1, grad accumulation, the non-finite guard. See README.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { type LatentQaConfig, LatentQaModel } from "../core/models/latent_qa.ts";
import type { StackConfig } from "../core/nn/stacks.ts";
import { AdamW } from "../core/optim/adamw.ts";
import type { ParamGroup } from "../core/optim/params.ts";
import { warmupCosine } from "../core/optim/schedule.ts";
import { pathExists, writeJsonAtomic } from "../core/io/atomic.ts";
import { recoverCheckpoint } from "../core/io/mod.ts";
import { Trainer } from "../core/train/mod.ts";
import { resolveDataDir } from "../datasets/data_dir.ts";
import { type MultiHopExample, readMultiHopJson } from "../datasets/multihop_qa.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { initTableFromGlove } from "./absa/glove_init.ts";
import { loadLmModel } from "./clara/model_dir.ts";
import { evaluateQa } from "./latent_qa/evaluate.ts";
import {
  type QaLengths,
  qaSpecialIds,
  supportShare,
  tokenizeQaExample,
} from "./latent_qa/examples.ts";
import { initFromLm } from "./latent_qa/init.ts";
import { synthesizeClozeQa } from "./latent_qa/synthetic.ts";
import {
  LATENT_QA_FORMAT,
  type LatentQaRunConfig,
  saveLatentQaModel,
} from "./latent_qa/model_dir.ts";
import { GROUP_NAMES, latentQaTrainingTask } from "./latent_qa/training.ts";

/** Training files of the data directory read by default (HotpotQA, 2Wiki and MuSiQue train). */
export const DEFAULT_TRAIN_FILES = [
  "hotpotqa/train.json",
  "hotpotqa/train_more.json",
  "2wiki/train_sample.json",
  "musique/train_sample.json",
];
/**
 * Validation files of the data directory: the held-apart slice of HotpotQA train (20 questions) and
 * the 2Wiki dev sample (500), so that best-by-F1 is not decided by ties on one or two questions.
 */
export const DEFAULT_VAL_FILES = ["hotpotqa/dev.json", "2wiki/dev_sample.json"];
/** The base LM used for `--init auto` when it exists (what `train:clara --stage lm` writes). */
export const DEFAULT_INIT = "runs/clara-lm/best";

/** Parsed flags of train:latent-qa. */
export interface TrainLatentQaOptions {
  model: "latent" | "baseline";
  data?: string;
  train: string[];
  val: string[];
  out: string;
  /** A base-LM directory, "auto" ({@linkcode DEFAULT_INIT} when present) or "none". */
  init: string;
  glove: string;
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
  dropout: number;
  latents: number;
  selectorLayers: number;
  selectorHeads: number;
  selectorDropout: number;
  /** The pointer-generator copy head on both kinds (`--copy 0` turns it off). */
  copy: boolean;
  /** Its follow bonus on source positions (`--copy-follow 0` turns it off). */
  copyFollow: boolean;
  lengths: QaLengths;
  /** Synthesized cloze questions added to the training set (0: none). */
  synthetic: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
  lrLatent: number;
  lrGate: number;
  lrEncoder: number;
  lrDecoder: number;
  freezeDecoderInitially: number;
  warmup: number;
  weightDecay: number;
  auxWeight: number;
  precision: "f32" | "mixed";
  seed: number;
  maxSteps: number;
  maxMinutes: number;
  saveEvery: number;
  patience: number;
  resume: boolean;
}

const NUMBER_FLAGS: Record<string, [string, boolean]> = {
  "vocab-size": ["8000", true],
  dim: ["128", true],
  layers: ["2", true],
  heads: ["4", true],
  hidden: ["512", true],
  dropout: ["0.1", false],
  latents: ["32", true],
  "selector-layers": ["2", true],
  "selector-heads": ["8", true],
  "selector-dropout": ["0.1", false],
  copy: ["1", true],
  "copy-follow": ["1", true],
  "max-context": ["768", true],
  "max-source": ["512", true],
  "max-question": ["64", true],
  "max-answer": ["32", true],
  synthetic: ["1200", true],
  epochs: ["2", true],
  "batch-size": ["8", true],
  "grad-accum": ["1", true],
  "lr-latent": ["1e-3", false],
  "lr-gate": ["1e-2", false],
  "lr-encoder": ["5e-4", false],
  "lr-decoder": ["5e-4", false],
  "freeze-decoder-initially": ["0", true],
  warmup: ["30", true],
  "weight-decay": ["0.01", false],
  "aux-weight": ["1.0", false],
  seed: ["1", true],
  "max-steps": ["0", true],
  "max-minutes": ["60", false],
  "save-every": ["25", true],
  patience: ["0", true],
};

/** Parses the flags (see README). */
export function parseTrainLatentQaArgs(args: string[]): TrainLatentQaOptions {
  const numberOptions = Object.fromEntries(
    Object.entries(NUMBER_FLAGS).map(([k, [d]]) => [k, { type: "string" as const, default: d }]),
  );
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: "string" },
      data: { type: "string" },
      train: { type: "string", multiple: true },
      val: { type: "string", multiple: true },
      out: { type: "string" },
      init: { type: "string", default: "auto" },
      glove: { type: "string", default: "auto" },
      precision: { type: "string", default: "f32" },
      resume: { type: "boolean", default: false },
      ...numberOptions,
    },
  });
  if (v.model !== "latent" && v.model !== "baseline") {
    throw new Error(
      `--model: expected latent or baseline, got ${
        v.model === undefined ? "nothing" : `"${v.model}"`
      }`,
    );
  }
  if (v.precision !== "f32" && v.precision !== "mixed") {
    throw new Error(`--precision: expected f32 or mixed, got "${v.precision}"`);
  }
  const num = (name: string): number => {
    const raw = (v as Record<string, unknown>)[name] as string;
    const n = Number(raw);
    const integer = NUMBER_FLAGS[name][1];
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
      throw new Error(
        `--${name}: expected a non-negative ${integer ? "integer" : "number"}, got "${raw}"`,
      );
    }
    return n;
  };
  const flag = (name: string): boolean => {
    const n = num(name);
    if (n > 1) throw new Error(`--${name}: expected 0 or 1, got "${n}"`);
    return n === 1;
  };
  return {
    model: v.model,
    data: v.data,
    train: v.train ?? [],
    val: v.val ?? [],
    out: v.out ?? `runs/latent-qa-${v.model}`,
    init: v.init!,
    glove: v.glove!,
    vocabSize: num("vocab-size"),
    dim: num("dim"),
    layers: num("layers"),
    heads: num("heads"),
    hidden: num("hidden"),
    dropout: num("dropout"),
    latents: num("latents"),
    selectorLayers: num("selector-layers"),
    selectorHeads: num("selector-heads"),
    selectorDropout: num("selector-dropout"),
    copy: flag("copy"),
    copyFollow: flag("copy") && flag("copy-follow"),
    lengths: {
      maxContext: num("max-context"),
      maxSource: num("max-source"),
      maxQuestion: num("max-question"),
      maxAnswer: num("max-answer"),
    },
    synthetic: num("synthetic"),
    epochs: num("epochs"),
    batchSize: num("batch-size"),
    gradAccum: num("grad-accum"),
    lrLatent: num("lr-latent"),
    lrGate: num("lr-gate"),
    lrEncoder: num("lr-encoder"),
    lrDecoder: num("lr-decoder"),
    freezeDecoderInitially: num("freeze-decoder-initially"),
    warmup: num("warmup"),
    weightDecay: num("weight-decay"),
    auxWeight: num("aux-weight"),
    precision: v.precision,
    seed: num("seed"),
    maxSteps: num("max-steps"),
    maxMinutes: num("max-minutes"),
    saveEvery: num("save-every"),
    patience: num("patience"),
    resume: v.resume!,
  };
}

/** What a finished run reports. */
export interface TrainLatentQaResult {
  /** Validation metrics of the best epoch (or of the last weights after `--max-steps`). */
  val: Record<string, number>;
  bestEpoch: number;
  steps: number;
  trainExamples: number;
  /** Supporting tokens' share of the training contexts (chance level of the support mass). */
  supportShare: number;
  nonFiniteSteps: number;
  wallSeconds: number;
  msPerStep: number;
}

async function readFiles(paths: string[], log: (s: string) => void): Promise<MultiHopExample[]> {
  const all: MultiHopExample[] = [];
  for (const path of paths) {
    const examples = await readMultiHopJson(path);
    log(`${path}: ${examples.length} examples`);
    all.push(...examples);
  }
  return all;
}

function initDir(o: TrainLatentQaOptions): Promise<string | null> | string | null {
  if (o.init === "none") return null;
  if (o.init !== "auto") return o.init;
  return pathExists(`${DEFAULT_INIT}/config.json`).then((ok) => (ok ? DEFAULT_INIT : null));
}

/** The run's tokenizer and sizes: the base LM's when initialising from one, else trained here. */
async function freshRun(
  o: TrainLatentQaOptions,
  lmDir: string | null,
  train: MultiHopExample[],
  log: (s: string) => void,
): Promise<{ run: LatentQaRunConfig; tokenizer: TextTokenizer }> {
  let tokenizer: TextTokenizer;
  let sizes = {
    dim: o.dim,
    heads: o.heads,
    layers: o.layers,
    hidden: o.hidden,
    dropout: o.dropout,
  };
  let positions: StackConfig["positions"] = "rotary";
  if (lmDir) {
    const lmConfig = JSON.parse(await Deno.readTextFile(`${lmDir}/config.json`))
      .model as StackConfig;
    tokenizer = await TextTokenizer.load(`${lmDir}/tokenizer.json`);
    sizes = {
      dim: lmConfig.dim,
      heads: lmConfig.heads,
      layers: lmConfig.layers,
      hidden: lmConfig.hidden ?? 4 * lmConfig.dim,
      dropout: o.dropout,
    };
    positions = lmConfig.positions;
    log(`sizes and tokenizer from the base LM ${lmDir}`);
  } else {
    const texts = train.flatMap((e) => [
      e.question,
      e.answer,
      ...e.paragraphs.map((p) => `${p.title}: ${p.sentences.join(" ")}`),
    ]);
    tokenizer = new TextTokenizer(trainWordPiece(texts, { vocabSize: o.vocabSize }));
    log(`tokenizer: ${tokenizer.vocabSize} pieces trained on the training set`);
  }
  const l = o.lengths;
  const model: LatentQaConfig = {
    kind: o.model,
    stack: {
      vocabSize: Math.ceil(tokenizer.vocabSize / 8) * 8,
      ...sizes,
      maxLength: Math.max(l.maxContext, l.maxSource, l.maxQuestion, l.maxAnswer),
      positions,
      seed: o.seed,
    },
    latents: o.latents,
    selectorLayers: o.selectorLayers,
    selectorHeads: o.selectorHeads,
    selectorDropout: o.selectorDropout,
    copy: o.copy,
    copyFollow: o.copyFollow,
  };
  return { run: { format: LATENT_QA_FORMAT, model, lengths: l }, tokenizer };
}

/** Runs training; returns the best validation metrics. */
export async function trainLatentQa(
  o: TrainLatentQaOptions,
  log: (s: string) => void = console.log,
): Promise<TrainLatentQaResult> {
  const info = await device.init();
  log(`adapter: ${info.description}`);
  await Deno.mkdir(o.out, { recursive: true });
  const last = `${o.out}/last`, tokenizerPath = `${o.out}/tokenizer.json`;
  const configPath = `${o.out}/config.json`;
  const resuming = o.resume && (await recoverCheckpoint(last));
  if (o.resume && !resuming) log(`--resume: no checkpoint in ${last}, starting fresh`);

  const explicit = o.train.length > 0 && o.val.length > 0;
  const dir = explicit ? "" : resolveDataDir({ flag: o.data, mustContain: DEFAULT_VAL_FILES[0] });
  const realRaw = await readFiles(
    o.train.length ? o.train : DEFAULT_TRAIN_FILES.map((f) => `${dir}/${f}`),
    log,
  );
  const synthetic = o.synthetic
    ? synthesizeClozeQa(realRaw, { count: o.synthetic, seed: o.seed })
    : [];
  if (o.synthetic) log(`${synthetic.length} synthesized cloze questions over those paragraphs`);
  const trainRaw = [...realRaw, ...synthetic];
  const valRaw = await readFiles(
    o.val.length ? o.val : DEFAULT_VAL_FILES.map((f) => `${dir}/${f}`),
    log,
  );

  const lmDir = resuming ? null : await initDir(o);
  let run: LatentQaRunConfig, tokenizer: TextTokenizer;
  if (resuming) {
    tokenizer = await TextTokenizer.load(tokenizerPath);
    run = JSON.parse(await Deno.readTextFile(configPath)) as LatentQaRunConfig;
  } else {
    ({ run, tokenizer } = await freshRun(o, lmDir, trainRaw, log));
    await tokenizer.save(tokenizerPath);
    await writeJsonAtomic(configPath, run);
  }
  const special = qaSpecialIds(tokenizer);
  const train = trainRaw.map((e) => tokenizeQaExample(e, tokenizer, run.lengths));
  const val = valRaw.map((e) => tokenizeQaExample(e, tokenizer, run.lengths));
  const share = supportShare(train);
  log(
    `${train.length} train, ${val.length} val questions; mean context ${
      (train.reduce((n, e) => n + e.context.length, 0) / train.length).toFixed(0)
    } tokens, supporting share ${share.toFixed(4)}`,
  );

  const model = new LatentQaModel(run.model);
  if (!resuming) {
    if (lmDir) {
      const lm = await loadLmModel(lmDir);
      const filled = initFromLm(model, lm.model);
      lm.model.dispose();
      log(`init: ${filled.length} tensors from ${lmDir}`);
    } else if (o.glove !== "none") {
      const source = o.glove === "auto" ? undefined : o.glove;
      for (const table of [model.seq2seq.encoder.embed.tokens, model.seq2seq.targetEmbed.tokens]) {
        const hits = await initTableFromGlove(table.weight, tokenizer, source, o.out);
        log(`init: GloVe rows for ${hits} of ${tokenizer.vocabSize} tokens`);
      }
    } else log("init: from scratch (no base LM, no GloVe)");
  }
  const groups = model.parameterGroups();
  const rates = {
    latent: o.lrLatent,
    gate: o.lrGate,
    encoder: o.lrEncoder,
    decoder: o.lrDecoder,
  };
  const paramGroups: ParamGroup[] = [];
  const groupIndex: Partial<Record<(typeof GROUP_NAMES)[number], number>> = {};
  for (const g of GROUP_NAMES) {
    if (groups[g].length === 0) continue;
    groupIndex[g] = paramGroups.length;
    // Weight decay would pull the gate back towards closed.
    paramGroups.push({
      params: groups[g],
      lr: rates[g],
      weightDecay: g === "gate" ? 0 : undefined,
    });
  }
  const batchesPerEpoch = Math.ceil(train.length / o.batchSize);
  const totalSteps = Math.ceil(batchesPerEpoch / o.gradAccum) * o.epochs;
  const optimizer = new AdamW(paramGroups, {
    lr: o.lrEncoder,
    weightDecay: o.weightDecay,
    schedule: warmupCosine({
      warmupSteps: Math.min(o.warmup, totalSteps),
      totalSteps,
      minRatio: 0.05,
    }),
  });
  log(
    `parameters: ${model.numParameters()} (${
      GROUP_NAMES.map((g) => `${g} ${groups[g].reduce((n, p) => n + p.size, 0)}`).join(", ")
    })`,
  );
  const task = latentQaTrainingTask({
    model,
    optimizer,
    groupIndex,
    rates,
    freezeSteps: o.freezeDecoderInitially,
    tokenizer,
    special,
    train,
    val,
    batchSize: o.batchSize,
    seed: o.seed,
    auxWeight: o.auxWeight,
    maxAnswer: run.lengths.maxAnswer,
    mixedPrecision: o.precision === "mixed",
    saveBest: (d) => saveLatentQaModel(d, model, run, tokenizer),
  });
  const trainer = new Trainer(task, {
    out: o.out,
    label: `train:latent-qa ${o.model}`,
    epochs: o.epochs,
    seed: o.seed,
    resume: resuming,
    saveEvery: o.saveEvery,
    maxSteps: o.maxSteps,
    maxMinutes: o.maxMinutes,
    patience: o.patience || undefined,
    gradAccum: o.gradAccum,
    bestMetric: "f1",
    progressTerms: o.model === "latent" ? ["loss", "loss_aux", "support_mass", "gate"] : ["loss"],
    log,
  });
  try {
    const fit = await trainer.fit();
    let metrics = fit.best;
    if (fit.bestEpoch < 0) {
      const r = await evaluateQa(model, tokenizer, special, val, {
        batchSize: o.batchSize,
        maxAnswer: run.lengths.maxAnswer,
      });
      metrics = { f1: r.f1, em: r.em, support_mass: r.support_mass, gate: r.gate };
      await saveLatentQaModel(`${o.out}/best`, model, run, tokenizer);
      log(`val after ${fit.steps} steps (no full epoch evaluated): F1 ${r.f1.toFixed(4)}; saved`);
    }
    const result: TrainLatentQaResult = {
      val: metrics,
      bestEpoch: fit.bestEpoch,
      steps: fit.steps,
      trainExamples: train.length,
      supportShare: share,
      nonFiniteSteps: fit.nonFiniteSteps,
      wallSeconds: fit.wallSeconds,
      msPerStep: fit.msPerStep,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    trainer.dispose();
    model.dispose();
    optimizer.dispose();
  }
}

if (import.meta.main) {
  try {
    await trainLatentQa(parseTrainLatentQaArgs(Deno.args));
  } catch (e) {
    console.error(`train:latent-qa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
