/**
 * `deno task train:clara --stage lm`: pretrains the small causal LM that CLaRa's compressor and
 * generator are built on (the stand-in for Mistral-7B: no pretrained LM can be downloaded here),
 * on the Wikipedia and WikiText text of the data directory plus the QA sets' training paragraphs.
 * Reports held-out perplexity after each epoch, keeps the best model in `OUT/best`, resumes with
 * `--resume`. The later stages (pretrain, instruct) start from `OUT/best`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { DecoderOnly, type StackConfig } from "../core/nn/stacks.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { warmupCosine } from "../core/optim/schedule.ts";
import { writeFileAtomic } from "../core/io/safetensors.ts";
import { recoverCheckpoint } from "../core/io/mod.ts";
import { Trainer } from "../core/train/mod.ts";
import { resolveDataDir } from "../datasets/data_dir.ts";
import { readMultiHopJson } from "../datasets/multihop_qa.ts";
import { readTextCorpus, type TextDocument } from "../datasets/text_corpus.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import {
  evenlySpaced,
  holdOut,
  packWindows,
  repeatHalves,
  selectWindows,
} from "./clara/lm_data.ts";
import { copyProbe, heldOutPerplexity, lmTrainingTask } from "./clara/lm_training.ts";
import { LM_FORMAT, type LmRunConfig, saveLmModel } from "./clara/model_dir.ts";
import { DEFAULT_QA_FILES, DEFAULT_TEXT_FILES } from "./clara/data_files.ts";
import { parseMemoryStageArgs, runMemoryStage } from "./clara/memory_stages.ts";
import { parseE2EArgs, runE2EStage } from "./clara/e2e_stage.ts";

export { DEFAULT_QA_FILES, DEFAULT_TEXT_FILES } from "./clara/data_files.ts";

/** Parsed flags of train:clara. */
export interface TrainClaraOptions {
  stage: "lm";
  data?: string;
  text: string[];
  qa: string[];
  out: string;
  epochs: number;
  batchSize: number;
  seqLen: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
  dropout: number;
  vocabSize: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  seed: number;
  holdOutEvery: number;
  /** Every n-th training window has its second half replaced by a repeat of its first (0: none). */
  repeatEvery: number;
  maxTrainTokens: number;
  evalWindows: number;
  maxSteps: number;
  maxMinutes: number;
  saveEvery: number;
  patience: number;
  resume: boolean;
}

/** Parses the flags (see README). */
export function parseTrainClaraArgs(args: string[]): TrainClaraOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      stage: { type: "string" },
      data: { type: "string" },
      text: { type: "string", multiple: true },
      qa: { type: "string", multiple: true },
      out: { type: "string" },
      epochs: { type: "string", default: "2" },
      "batch-size": { type: "string", default: "16" },
      "seq-len": { type: "string", default: "128" },
      dim: { type: "string", default: "128" },
      layers: { type: "string", default: "2" },
      heads: { type: "string", default: "4" },
      hidden: { type: "string", default: "512" },
      dropout: { type: "string", default: "0.1" },
      "vocab-size": { type: "string", default: "8000" },
      lr: { type: "string", default: "2e-3" },
      warmup: { type: "string", default: "200" },
      "weight-decay": { type: "string", default: "0.01" },
      seed: { type: "string", default: "1" },
      "hold-out-every": { type: "string", default: "20" },
      "repeat-every": { type: "string", default: "2" },
      "max-train-tokens": { type: "string", default: "2000000" },
      "eval-windows": { type: "string", default: "256" },
      "max-steps": { type: "string", default: "0" },
      "max-minutes": { type: "string", default: "60" },
      "save-every": { type: "string", default: "100" },
      patience: { type: "string", default: "2" },
      resume: { type: "boolean", default: false },
    },
  });
  if (v.stage === "pretrain" || v.stage === "instruct") {
    throw new Error(
      `--stage ${v.stage}: its flags are parsed by parseMemoryStageArgs (tasks/clara/memory_stages.ts)`,
    );
  }
  if (v.stage !== "lm") {
    throw new Error(
      `--stage: expected lm, pretrain or instruct, got ${
        v.stage === undefined ? "nothing" : `"${v.stage}"`
      }`,
    );
  }
  const num = (name: string, integer = true): number => {
    const raw = (v as Record<string, unknown>)[name] as string;
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: expected ${integer ? "an integer" : "a number"}, got "${raw}"`);
    }
    return n;
  };
  const nonNegative = (name: string): number => {
    const n = num(name);
    if (n < 0) throw new Error(`--${name}: expected 0 (off) or a positive integer, got ${n}`);
    return n;
  };
  return {
    stage: "lm",
    data: v.data,
    text: v.text ?? [],
    qa: v.qa ?? [],
    out: v.out ?? "runs/clara-lm",
    epochs: num("epochs"),
    batchSize: num("batch-size"),
    seqLen: num("seq-len"),
    dim: num("dim"),
    layers: num("layers"),
    heads: num("heads"),
    hidden: num("hidden"),
    dropout: num("dropout", false),
    vocabSize: num("vocab-size"),
    lr: num("lr", false),
    warmup: num("warmup"),
    weightDecay: num("weight-decay", false),
    seed: num("seed"),
    holdOutEvery: num("hold-out-every"),
    repeatEvery: nonNegative("repeat-every"),
    maxTrainTokens: num("max-train-tokens"),
    evalWindows: num("eval-windows"),
    maxSteps: num("max-steps"),
    maxMinutes: num("max-minutes", false),
    saveEvery: num("save-every"),
    patience: num("patience"),
    resume: v.resume!,
  };
}

/** What a finished LM run reports. */
export interface TrainClaraResult {
  /** Held-out perplexity of the best model (NaN when no epoch was evaluated). */
  perplexity: number;
  /** Copy probe of that model: mean NLL of the first half of held-out windows repeated twice. */
  freshNll: number;
  /** Copy probe: mean NLL of the repeated half (far below `freshNll` when the model copies). */
  copyNll: number;
  bestEpoch: number;
  steps: number;
  trainTokens: number;
  heldOutTokens: number;
  wallSeconds: number;
  msPerStep: number;
}

/** The corpus: text files split into articles, plus the QA files' distinct paragraphs. */
async function readCorpus(o: TrainClaraOptions, log: (s: string) => void): Promise<TextDocument[]> {
  const explicit = o.text.length > 0 || o.qa.length > 0;
  const dir = explicit ? "" : resolveDataDir({ flag: o.data, mustContain: DEFAULT_TEXT_FILES[0] });
  const texts = explicit ? o.text : DEFAULT_TEXT_FILES.map((f) => `${dir}/${f}`);
  const qa = explicit ? o.qa : DEFAULT_QA_FILES.map((f) => `${dir}/${f}`);
  const docs: TextDocument[] = [];
  for (const path of texts) docs.push(...await readTextCorpus(path));
  const seen = new Set<string>();
  for (const path of qa) {
    let added = 0;
    for (const example of await readMultiHopJson(path)) {
      for (const p of example.paragraphs) {
        const text = p.sentences.join(" ").trim();
        const key = `${p.title}\u0000${text}`;
        if (!text || seen.has(key)) continue;
        seen.add(key);
        docs.push({ title: p.title, text, source: path });
        added++;
      }
    }
    log(`${path}: ${added} paragraphs`);
  }
  log(`corpus: ${docs.length} documents from ${texts.length} text and ${qa.length} QA files`);
  return docs;
}

/** Runs the LM stage; returns the best held-out perplexity. */
export async function trainClara(
  o: TrainClaraOptions,
  log: (s: string) => void = console.log,
): Promise<TrainClaraResult> {
  const info = await device.init();
  log(`adapter: ${info.description}`);
  await Deno.mkdir(o.out, { recursive: true });
  const last = `${o.out}/last`, tokenizerPath = `${o.out}/tokenizer.json`;
  const configPath = `${o.out}/config.json`;
  const resuming = o.resume && (await recoverCheckpoint(last));
  if (o.resume && !resuming) log(`--resume: no checkpoint in ${last}, starting fresh`);

  const docs = await readCorpus(o, log);
  const { train, heldOut } = holdOut(docs, o.holdOutEvery);
  let tokenizer: TextTokenizer;
  let run: LmRunConfig;
  if (resuming) {
    tokenizer = await TextTokenizer.load(tokenizerPath);
    run = JSON.parse(await Deno.readTextFile(configPath)) as LmRunConfig;
  } else {
    const t0 = performance.now();
    tokenizer = new TextTokenizer(
      trainWordPiece(train.flatMap((d) => d.text.split(/\n\n+/)), { vocabSize: o.vocabSize }),
    );
    log(
      `tokenizer: ${tokenizer.vocabSize} pieces in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
    const model: StackConfig = {
      vocabSize: Math.ceil(tokenizer.vocabSize / 8) * 8,
      dim: o.dim,
      heads: o.heads,
      layers: o.layers,
      hidden: o.hidden,
      dropout: o.dropout,
      maxLength: o.seqLen,
      positions: "rotary",
      seed: o.seed,
    };
    run = { format: LM_FORMAT, model, seqLen: o.seqLen };
    const encode = (text: string) => new TextEncoder().encode(text);
    await writeFileAtomic(tokenizerPath, encode(JSON.stringify(tokenizer.json)));
    await writeFileAtomic(configPath, encode(JSON.stringify(run, null, 2) + "\n"));
  }
  const sep = tokenizer.tokenId("[SEP]");
  const encodeDoc = (d: TextDocument) => tokenizer.encode(`${d.title}\n${d.text}`, false);
  const allTrain = packWindows(train.map(encodeDoc), run.seqLen, sep);
  const allHeldOut = packWindows(heldOut.map(encodeDoc), run.seqLen, sep);
  // A fixed token budget keeps the default run's length independent of the host's speed.
  const trainWindows = selectWindows(
    allTrain,
    evenlySpaced(allTrain.count, Math.floor(o.maxTrainTokens / run.seqLen)),
  );
  const heldOutWindows = selectWindows(allHeldOut, evenlySpaced(allHeldOut.count, o.evalWindows));
  const trainInputs = o.repeatEvery > 0 ? repeatHalves(trainWindows, o.repeatEvery) : trainWindows;
  log(
    `windows of ${run.seqLen} tokens: ${trainWindows.count} of ${allTrain.count} train ` +
      `(${train.length} documents), ${heldOutWindows.count} of ${allHeldOut.count} held out ` +
      `(${heldOut.length} documents, every ${o.holdOutEvery}th)` +
      (o.repeatEvery > 0 ? `; every ${o.repeatEvery}th train window repeats its first half` : ""),
  );

  const model = new DecoderOnly(run.model);
  const stepsPerEpoch = Math.ceil(trainWindows.count / o.batchSize);
  const opt = new AdamW(model.parameters(), {
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: warmupCosine({
      warmupSteps: o.warmup,
      totalSteps: stepsPerEpoch * o.epochs,
      minRatio: 0.05,
    }),
  });
  log(`parameters: ${model.numParameters()}`);
  const task = lmTrainingTask({
    model,
    optimizer: opt,
    train: trainInputs,
    heldOut: heldOutWindows,
    batchSize: o.batchSize,
    seed: o.seed,
    saveBest: (dir) => saveLmModel(dir, model, run, tokenizer),
  });
  const trainer = new Trainer(task, {
    out: o.out,
    label: "train:clara lm",
    epochs: o.epochs,
    seed: o.seed,
    resume: resuming,
    saveEvery: o.saveEvery,
    maxSteps: o.maxSteps,
    maxMinutes: o.maxMinutes,
    patience: o.patience,
    bestMetric: "perplexity",
    bestMode: "min",
    log,
  });
  try {
    const fit = await trainer.fit();
    let { perplexity = NaN, fresh_nll: freshNll = NaN, copy_nll: copyNll = NaN } = fit.best;
    if (fit.stopReason === "max-steps" && fit.bestEpoch < 0) {
      perplexity = (await heldOutPerplexity(model, heldOutWindows, o.batchSize)).perplexity;
      ({ fresh_nll: freshNll, copy_nll: copyNll } = await copyProbe(
        model,
        heldOutWindows,
        o.batchSize,
      ));
      log(
        `held-out perplexity after ${fit.steps} steps: ${perplexity.toFixed(2)}; copy probe ` +
          `NLL ${freshNll.toFixed(3)} first half, ${copyNll.toFixed(3)} repeated half`,
      );
    }
    const result: TrainClaraResult = {
      perplexity,
      freshNll,
      copyNll,
      bestEpoch: fit.bestEpoch,
      steps: fit.steps,
      trainTokens: trainWindows.count * run.seqLen,
      heldOutTokens: heldOutWindows.count * run.seqLen,
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

/** The `--stage` value of `args` (undefined when absent). */
function stageOf(args: string[]): string | undefined {
  const i = args.findIndex((a) => a === "--stage" || a.startsWith("--stage="));
  if (i < 0) return undefined;
  return args[i].includes("=") ? args[i].split("=")[1] : args[i + 1];
}

if (import.meta.main) {
  try {
    const stage = stageOf(Deno.args);
    if (stage === "pretrain" || stage === "instruct") {
      await runMemoryStage(parseMemoryStageArgs(Deno.args));
    } else if (stage === "e2e") await runE2EStage(parseE2EArgs(Deno.args));
    else await trainClara(parseTrainClaraArgs(Deno.args));
  } catch (e) {
    console.error(`train:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
