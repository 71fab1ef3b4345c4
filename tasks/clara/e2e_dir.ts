/**
 * A stage-3 (e2e) model directory: `model.safetensors` (the whole {@linkcode ClaraE2E}: frozen
 * base and compressor, generator and reasoner adapters, query tokens), `config.json` (the stage-2
 * run config, the reasoner's shape, k, τ, the selection mode and whether the compressor trained)
 * and `tokenizer.json`, swapped in as one directory.
 *
 * @module
 */
import { DecoderOnly } from "../../core/nn/stacks.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { loadRunTokenizer, loadRunWeights, readRunConfig, saveRunDirectory } from "./run_dir.ts";
import {
  ClaraE2E,
  type ReasonerInit,
  type ReasonerOptions,
  type Selection,
  SELECTIONS,
} from "./e2e_model.ts";
import { loadMemoryModel, memoryModel, type MemoryRunConfig } from "./memory_dir.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";

/** The format tag of an e2e model directory. */
export const E2E_FORMAT = "fast-clara-e2e/1";

/** What `config.json` of an e2e directory holds. */
export interface E2ERunConfig {
  format: typeof E2E_FORMAT;
  stage: "e2e";
  /** The stage-2 model's config it started from. */
  memoryRun: MemoryRunConfig;
  reasoner: ReasonerOptions;
  /** How the reasoner started (absent in directories written before it: `fresh`). */
  reasonerInit?: ReasonerInit;
  /** The e2e directories this run continued, oldest first (absent: it started from stage 2). */
  continuedFrom?: string[];
  /** Documents selected per question. */
  k: number;
  /** Temperature of the soft selection. */
  tau: number;
  /** How training selected the top k (absent in directories written before it: `ste`). */
  selection?: Selection;
  /** Whether stage 3 trained the compressor too (absent: false). */
  unfreezeCompressor?: boolean;
}

/** The selection mode of a run config (`ste` when the directory predates the field). */
export function runSelection(run: E2ERunConfig): Selection {
  return run.selection ?? "ste";
}

/** Writes weights, config and tokenizer as the directory `dir`. */
export function saveE2EModel(
  dir: string,
  model: ClaraE2E,
  run: E2ERunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  return saveRunDirectory(dir, model, run, tokenizer);
}

/** Loads an e2e directory; errors name the file and what was expected. */
export async function loadE2EModel(
  dir: string,
): Promise<{ model: ClaraE2E; run: E2ERunConfig; tokenizer: TextTokenizer }> {
  const run = await readRunConfig<E2ERunConfig>(
    dir,
    E2E_FORMAT,
    "a CLaRa e2e directory",
    "a --stage e2e output",
  );
  if (run.selection !== undefined && !SELECTIONS.includes(run.selection)) {
    throw new Error(
      `${dir}/config.json: "selection" must be one of ${SELECTIONS.join(", ")}, got ${
        JSON.stringify(run.selection)
      }`,
    );
  }
  const tokenizer = await loadRunTokenizer(dir);
  const lm = new DecoderOnly(run.memoryRun.base);
  const model = new ClaraE2E(memoryModel(lm, run.memoryRun.memory), run.reasoner);
  lm.dispose();
  await loadRunWeights(dir, model);
  return { model, run, tokenizer };
}

/**
 * Whether `dir/config.json` names an e2e directory; false also when it cannot be read (the
 * loader the caller falls back on reports that).
 */
export async function isE2EDirectory(dir: string): Promise<boolean> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/config.json`)).format === E2E_FORMAT;
  } catch {
    return false;
  }
}

/**
 * The compressor + generator of a stage-2 directory or of an e2e directory (whose compressor may
 * have trained in stage 3): what index:clara compresses a corpus with. `dispose` frees all of it.
 */
export async function loadMemoryModelOf(
  dir: string,
): Promise<{ model: MemoryLM; run: MemoryRunConfig; tokenizer: TextTokenizer; dispose(): void }> {
  if (await isE2EDirectory(dir)) {
    const e2e = await loadE2EModel(dir);
    return {
      model: e2e.model.lm,
      run: e2e.run.memoryRun,
      tokenizer: e2e.tokenizer,
      dispose: () => e2e.model.dispose(),
    };
  }
  const m = await loadMemoryModel(dir);
  return { ...m, dispose: () => m.model.dispose() };
}
