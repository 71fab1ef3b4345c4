/**
 * A latent-QA model on disk: `model.safetensors`, `config.json` (kind, sizes, token budgets) and
 * `tokenizer.json`, swapped in as a whole directory.
 *
 * @module
 */
import { type LatentQaConfig, LatentQaModel } from "../../core/models/latent_qa.ts";
import { loadSafetensors, saveSafetensors } from "../../core/io/safetensors.ts";
import { replaceDirectory, writeJsonAtomic } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { QaLengths } from "./examples.ts";

/** The format tag of a latent-QA model directory. */
export const LATENT_QA_FORMAT = "fast-clara-latent-qa/1";

/** What `config.json` of a model directory holds. */
export interface LatentQaRunConfig {
  format: typeof LATENT_QA_FORMAT;
  model: LatentQaConfig;
  lengths: QaLengths;
}

/** Writes weights, config and tokenizer as the directory `dir`. */
export async function saveLatentQaModel(
  dir: string,
  model: LatentQaModel,
  run: LatentQaRunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  await replaceDirectory(dir, async (partial) => {
    await tokenizer.save(`${partial}/tokenizer.json`);
    await writeJsonAtomic(`${partial}/config.json`, run);
    await saveSafetensors(`${partial}/model.safetensors`, model.stateDict(), {
      format: LATENT_QA_FORMAT,
    });
  });
}

/** Reads and checks `config.json` of a model or run directory. */
export async function readLatentQaConfig(dir: string): Promise<LatentQaRunConfig> {
  const path = `${dir}/config.json`;
  let run: LatentQaRunConfig;
  try {
    run = JSON.parse(await Deno.readTextFile(path)) as LatentQaRunConfig;
  } catch (e) {
    throw new Error(`${path}: not a latent-QA model directory (${(e as Error).message})`);
  }
  if (run.format !== LATENT_QA_FORMAT) {
    throw new Error(`${path}: format "${run.format}", expected "${LATENT_QA_FORMAT}"`);
  }
  if (run.model?.kind !== "latent" && run.model?.kind !== "baseline") {
    throw new Error(`${path}: model.kind must be "latent" or "baseline", got ${run.model?.kind}`);
  }
  return run;
}

/** Loads a model directory; errors name the file and what was expected. */
export async function loadLatentQaModel(
  dir: string,
): Promise<{ model: LatentQaModel; run: LatentQaRunConfig; tokenizer: TextTokenizer }> {
  const run = await readLatentQaConfig(dir);
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const model = new LatentQaModel(run.model);
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    model.dispose();
    throw new Error(`${dir}/model.safetensors: ${(e as Error).message}`);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, run, tokenizer };
}
