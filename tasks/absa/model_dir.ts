/**
 * A trained ABSA model on disk: `model.safetensors` (weights, config in `__metadata__`),
 * `config.json` and `tokenizer.json`. Every file is written atomically.
 *
 * @module
 */
import { FastClaraAbsa, type FastClaraAbsaConfig } from "../../core/models/fast_clara_absa.ts";
import { loadSafetensors, saveSafetensors } from "../../core/io/safetensors.ts";
import { writeJsonAtomic } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { AbsaTask } from "./examples.ts";

/** What a model directory records besides the weights. */
export interface AbsaRunConfig {
  model: FastClaraAbsaConfig;
  task: AbsaTask;
  /** Sentence token budget used in training. */
  maxTokens: number;
  /** Names of the LoRA adapters present (empty for a fully trained model). */
  adapters: string[];
  /** LoRA rank when adapters are present. */
  loraRank?: number;
}

/** Writes weights, config and tokenizer into `dir`. */
export async function saveAbsaModel(
  dir: string,
  model: FastClaraAbsa,
  run: AbsaRunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeJsonAtomic(`${dir}/tokenizer.json`, tokenizer.json, 0);
  await writeJsonAtomic(`${dir}/config.json`, run);
  await saveSafetensors(`${dir}/model.safetensors`, model.stateDict(), {
    format: "fast-clara-absa/1",
    config: JSON.stringify(run),
  });
}

/** Reads the config of a model directory, naming the file on failure. */
export async function readRunConfig(dir: string): Promise<AbsaRunConfig> {
  const path = `${dir}/config.json`;
  try {
    return JSON.parse(await Deno.readTextFile(path)) as AbsaRunConfig;
  } catch (e) {
    throw new Error(`${path}: not a Fast CLaRa ABSA model directory (${(e as Error).message})`);
  }
}

/**
 * Attaches the encoder- and decoder-phase LoRA adapters that `run` records (nothing for a fully
 * trained model), at its rank or `rank`.
 */
export function attachRunAdapters(model: FastClaraAbsa, run: AbsaRunConfig, rank = 8): void {
  if (run.adapters.length === 0) return;
  const names = model.adapterNames;
  if (run.adapters.join() !== [names.encoder, names.decoder].join()) {
    throw new Error(
      `config.json: adapters [${run.adapters}], expected [${names.encoder},${names.decoder}]`,
    );
  }
  model.attachAdapters({ rank: run.loraRank ?? rank });
}

/** Loads a model directory: config, tokenizer and weights (adapters recreated before loading). */
export async function loadAbsaModel(
  dir: string,
): Promise<{ model: FastClaraAbsa; run: AbsaRunConfig; tokenizer: TextTokenizer }> {
  const run = await readRunConfig(dir);
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const model = new FastClaraAbsa(run.model);
  attachRunAdapters(model, run);
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, run, tokenizer };
}
