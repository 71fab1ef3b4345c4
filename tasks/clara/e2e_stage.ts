/**
 * `train:clara --stage e2e`: CLaRa stage 3 on the shared trainer. Starts from a stage-2
 * (`--stage instruct`) directory, adds the query reasoner (a third LoRA adapter + query tokens)
 * — or continues an e2e directory's reasoner and generator, for a curriculum of e2e runs —,
 * keeps the base and the compressor frozen (the candidates' memories are computed once, before
 * training; `--unfreeze-compressor` trains the compressor too, re-encoding them in every step)
 * and trains the reasoner and the generator by the answer's next-token loss alone, through the
 * straight-through top-k (`--selection soft|hard` for the ablations). Resumable (`--resume`),
 * deterministic per seed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../../core/device.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { warmupCosine } from "../../core/optim/schedule.ts";
import { Trainer } from "../../core/train/mod.ts";
import { resolveDataDir } from "../../datasets/data_dir.ts";
import { DEFAULT_QA_FILES } from "./data_files.ts";
import { evenlySpaced, holdOut } from "./lm_data.ts";
import { qaInstructionRecords } from "./instruct_data.ts";
import { type InstructionRecord, readInstructionRecords } from "./stage_records.ts";
import { loadMemoryModel } from "./memory_dir.ts";
import {
  ClaraE2E,
  E2E_COMPRESSOR,
  E2E_TRAINABLE,
  REASONER_INITS,
  type ReasonerInit,
  type Selection,
  SELECTIONS,
} from "./e2e_model.ts";
import { type E2EExample, e2eExample, hostMemories } from "./e2e_data.ts";
import { cachedHostMemories } from "./memory_cache.ts";
import { e2eTrainingTask } from "./e2e_training.ts";
import { answersFromRanked, meanQa, meanRecalls, reasonerRankings } from "./e2e_eval.ts";
import { type E2ERunConfig, isE2EDirectory, loadE2EModel, saveE2EModel } from "./e2e_dir.ts";
import type { MemoryRunConfig } from "./memory_dir.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { claraSpecial } from "./tokens.ts";

/** Parsed flags of `--stage e2e`. */
export interface E2EStageOptions {
  from: string;
  out: string;
  data?: string;
  /** instruction.jsonl files; the data directory's QA training sets when empty. */
  files: string[];
  qa: string[];
  k: number;
  tau: number;
  selection: Selection;
  unfreezeCompressor: boolean;
  /** A directory caching the frozen candidate memories across runs (`--memory-cache`). */
  memoryCache?: string;
  queryTokens: number;
  /** How θ_qr and the query tokens start: a copy of the compressor, or fresh. */
  reasonerInit: ReasonerInit;
  rank: number;
  answerTokens: number;
  maxTrainExamples: number;
  evalExamples: number;
  holdOutEvery: number;
  epochs: number;
  batchSize: number;
  lr: number;
  warmup: number;
  seed: number;
  maxSteps: number;
  maxMinutes: number;
  saveEvery: number;
  resume: boolean;
}

/** Defaults of the reasoner's flags, which an e2e `--from` directory overrides. */
const E2E_DEFAULTS = { queryTokens: 8, rank: 8, reasonerInit: "fresh" as ReasonerInit };

/** Parses `train:clara --stage e2e` flags (see README). */
export function parseE2EArgs(args: string[]): E2EStageOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      stage: { type: "string" },
      from: { type: "string", default: "runs/clara-instruct/best" },
      out: { type: "string", default: "runs/clara-e2e" },
      data: { type: "string" },
      instruct: { type: "string", multiple: true },
      qa: { type: "string", multiple: true },
      k: { type: "string", default: "5" },
      tau: { type: "string", default: "0.02" },
      selection: { type: "string", default: "ste" },
      "unfreeze-compressor": { type: "boolean", default: false },
      "memory-cache": { type: "string" },
      "query-tokens": { type: "string", default: `${E2E_DEFAULTS.queryTokens}` },
      "reasoner-init": { type: "string", default: E2E_DEFAULTS.reasonerInit },
      rank: { type: "string", default: `${E2E_DEFAULTS.rank}` },
      "answer-tokens": { type: "string", default: "16" },
      "max-train-examples": { type: "string", default: "1000" },
      "eval-examples": { type: "string", default: "64" },
      "hold-out-every": { type: "string", default: "20" },
      epochs: { type: "string", default: "1" },
      "batch-size": { type: "string", default: "8" },
      lr: { type: "string", default: "1e-3" },
      warmup: { type: "string", default: "20" },
      seed: { type: "string", default: "1" },
      "max-steps": { type: "string", default: "0" },
      "max-minutes": { type: "string", default: "60" },
      "save-every": { type: "string", default: "25" },
      resume: { type: "boolean", default: false },
    },
  });
  if (v.stage !== "e2e") throw new Error(`--stage: expected e2e here, got "${v.stage}"`);
  const num = (name: string, integer = true): number => {
    const raw = (v as Record<string, unknown>)[name] as string;
    const n = Number(raw);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name}: expected ${integer ? "an integer" : "a number"}, got "${raw}"`);
    }
    return n;
  };
  const o: E2EStageOptions = {
    from: v.from!,
    out: v.out!,
    data: v.data,
    files: v.instruct ?? [],
    qa: v.qa ?? [],
    k: num("k"),
    tau: num("tau", false),
    selection: v.selection as Selection,
    unfreezeCompressor: v["unfreeze-compressor"]!,
    memoryCache: v["memory-cache"],
    queryTokens: num("query-tokens"),
    reasonerInit: v["reasoner-init"] as ReasonerInit,
    rank: num("rank"),
    answerTokens: num("answer-tokens"),
    maxTrainExamples: num("max-train-examples"),
    evalExamples: num("eval-examples"),
    holdOutEvery: num("hold-out-every"),
    epochs: num("epochs"),
    batchSize: num("batch-size"),
    lr: num("lr", false),
    warmup: num("warmup"),
    seed: num("seed"),
    maxSteps: num("max-steps"),
    maxMinutes: num("max-minutes", false),
    saveEvery: num("save-every"),
    resume: v.resume!,
  };
  if (o.k < 1) throw new Error(`--k: expected an integer ≥ 1, got ${o.k}`);
  if (!(o.tau > 0)) throw new Error(`--tau: expected a number > 0, got ${o.tau}`);
  if (!SELECTIONS.includes(o.selection)) {
    throw new Error(`--selection: expected ${SELECTIONS.join(", ")}, got "${o.selection}"`);
  }
  if (!REASONER_INITS.includes(o.reasonerInit)) {
    throw new Error(
      `--reasoner-init: expected ${REASONER_INITS.join(", ")}, got "${o.reasonerInit}"`,
    );
  }
  return o;
}

/**
 * Freezes everything but what stage 3 trains: the reasoner adapter, the query tokens and the
 * generator adapter, plus the compressor's adapter and memory tokens when `unfreezeCompressor`.
 */
export function e2eTrainable(model: ClaraE2E, unfreezeCompressor: boolean): void {
  model.freeze(/.*/);
  model.unfreeze(E2E_TRAINABLE);
  if (unfreezeCompressor) model.unfreeze(E2E_COMPRESSOR);
}

/** What the e2e stage reports. */
export interface E2EStageResult {
  stage: "e2e";
  metrics: Record<string, number>;
  steps: number;
  trainExamples: number;
  heldOutExamples: number;
  wallSeconds: number;
  msPerStep: number;
}

/**
 * The model stage 3 starts from: a stage-2 directory with a new reasoner (fresh or a copy of the
 * compressor), or an e2e directory whose reasoner, generator and compressor continue (a curriculum
 * of e2e runs; its reasoner shape holds, so `--query-tokens`, `--rank` and `--reasoner-init` must
 * keep their defaults or match it).
 */
async function startingModel(o: E2EStageOptions): Promise<{
  model: ClaraE2E;
  tokenizer: TextTokenizer;
  memoryRun: MemoryRunConfig;
  reasonerInit: ReasonerInit;
  continuedFrom?: string[];
}> {
  if (await isE2EDirectory(o.from)) {
    const e2e = await loadE2EModel(o.from);
    const { queryTokens, rank } = e2e.run.reasoner;
    const clash = o.queryTokens !== queryTokens && o.queryTokens !== E2E_DEFAULTS.queryTokens
      ? "--query-tokens"
      : o.rank !== rank && o.rank !== E2E_DEFAULTS.rank
      ? "--rank"
      : o.reasonerInit !== E2E_DEFAULTS.reasonerInit
      ? "--reasoner-init"
      : null;
    if (clash) {
      e2e.model.dispose();
      throw new Error(
        `${clash}: ${o.from} is an e2e directory, whose reasoner (${queryTokens} query tokens, ` +
          `rank ${rank}) continues; drop ${clash}`,
      );
    }
    return {
      model: e2e.model,
      tokenizer: e2e.tokenizer,
      memoryRun: e2e.run.memoryRun,
      reasonerInit: e2e.run.reasonerInit ?? "fresh",
      continuedFrom: [...(e2e.run.continuedFrom ?? []), o.from],
    };
  }
  const loaded = await loadMemoryModel(o.from);
  const model = new ClaraE2E(loaded.model, { queryTokens: o.queryTokens, rank: o.rank });
  if (o.reasonerInit === "compressor") model.startFromCompressor();
  return {
    model,
    tokenizer: loaded.tokenizer,
    memoryRun: loaded.run,
    reasonerInit: o.reasonerInit,
  };
}

/** Runs stage 3; returns its held-out metrics (reasoner Recall@1/2/5, EM, F1). */
export async function runE2EStage(
  o: E2EStageOptions,
  log: (s: string) => void = console.log,
): Promise<E2EStageResult> {
  const info = await device.init();
  log(`adapter: ${info.description}`);
  const { model, tokenizer, memoryRun, reasonerInit, continuedFrom } = await startingModel(o);
  e2eTrainable(model, o.unfreezeCompressor);
  const docTokens = memoryRun.memory.docTokens;
  const run: E2ERunConfig = {
    format: "fast-clara-e2e/1",
    stage: "e2e",
    memoryRun,
    reasoner: model.reasoner,
    reasonerInit,
    ...(continuedFrom ? { continuedFrom } : {}),
    k: o.k,
    tau: o.tau,
    selection: o.selection,
    unfreezeCompressor: o.unfreezeCompressor,
  };
  const records: InstructionRecord[] = [];
  if (o.files.length) { for (const f of o.files) records.push(...await readInstructionRecords(f)); }
  else {
    const qa = o.qa.length
      ? o.qa
      : DEFAULT_QA_FILES.map((f) =>
        `${resolveDataDir({ flag: o.data, mustContain: DEFAULT_QA_FILES[0] })}/${f}`
      );
    records.push(...await qaInstructionRecords(qa));
  }
  const split = holdOut(records, o.holdOutEvery);
  const toExamples = (rs: readonly InstructionRecord[], limit: number): E2EExample[] =>
    evenlySpaced(rs.length, limit).map((i) =>
      e2eExample(tokenizer, rs[i], docTokens, o.answerTokens)
    ).filter((e): e is E2EExample => e !== null);
  const train = toExamples(split.train, o.maxTrainExamples);
  const held = toExamples(split.heldOut, o.evalExamples);
  if (!train.length || !held.length) {
    throw new Error("--stage e2e: no training or held-out questions with gold documents");
  }
  log(
    `e2e: ${train.length} train, ${held.length} held-out questions; k = ${o.k}, τ = ${o.tau}, ` +
      `selection ${o.selection}${o.unfreezeCompressor ? ", compressor trained" : ""}`,
  );
  const t0 = performance.now();
  // A trained compressor changes the memories: they are encoded in each step, and the held-out
  // ones again at each evaluation.
  const trainMemories = o.unfreezeCompressor
    ? null
    : await cachedHostMemories(model.lm, train, docTokens, o.memoryCache, log);
  let heldMemories = await cachedHostMemories(model.lm, held, docTokens, o.memoryCache, log);
  log(
    `${o.unfreezeCompressor ? "initial" : "frozen"} memories of ${
      [...(trainMemories ? train : []), ...held].reduce((n, e) => n + e.candidates.length, 0)
    } candidates in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const params = model.parameters();
  log(
    `e2e model: ${model.numParameters()} parameters, ${
      params.reduce((n, p) => n + p.size, 0)
    } trainable (reasoner + query tokens + generator${
      o.unfreezeCompressor ? " + compressor" : ""
    })`,
  );
  const totalSteps = Math.ceil(train.length / o.batchSize) * o.epochs;
  const opt = new AdamW(params, {
    lr: o.lr,
    weightDecay: 0,
    schedule: warmupCosine({
      warmupSteps: Math.min(o.warmup, totalSteps),
      totalSteps,
      minRatio: 0.1,
    }),
  });
  const evaluate = async (): Promise<Record<string, number>> => {
    const batchSize = Math.max(1, o.batchSize);
    if (o.unfreezeCompressor) heldMemories = await hostMemories(model.lm, held, docTokens);
    const rankings = await reasonerRankings(model, held, heldMemories, batchSize);
    const answers = await answersFromRanked(model, tokenizer, held, heldMemories, rankings, {
      k: o.k,
      tau: o.tau,
      selection: o.selection,
      batchSize,
      maxNewTokens: o.answerTokens,
    });
    return { ...meanQa(held, answers), ...meanRecalls(rankings, held.map((e) => e.gold)) };
  };
  const metrics = ["f1", "em", "recall_at_1", "recall_at_2", "recall_at_5"];
  const task = e2eTrainingTask({
    model,
    optimizer: opt,
    train,
    memories: trainMemories,
    pad: claraSpecial(tokenizer).pad,
    k: o.k,
    tau: o.tau,
    selection: o.selection,
    docTokens,
    batchSize: o.batchSize,
    seed: o.seed,
    metrics,
    evaluate,
    saveBest: (dir) => saveE2EModel(dir, model, run, tokenizer),
  });
  const trainer = new Trainer(task, {
    out: o.out,
    label: "train:clara e2e",
    epochs: o.epochs,
    seed: o.seed,
    resume: o.resume,
    saveEvery: o.saveEvery,
    maxSteps: o.maxSteps,
    maxMinutes: o.maxMinutes,
    progressTerms: ["loss", `recall_at_${o.k}`],
    log,
  });
  try {
    const fit = await trainer.fit();
    let best = fit.best;
    if (fit.bestEpoch < 0) {
      best = await evaluate();
      await saveE2EModel(`${o.out}/best`, model, run, tokenizer);
      log(`held-out after ${fit.steps} steps: ${JSON.stringify(best)} → ${o.out}/best`);
    }
    const result: E2EStageResult = {
      stage: "e2e",
      metrics: best,
      steps: fit.steps,
      trainExamples: train.length,
      heldOutExamples: held.length,
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
