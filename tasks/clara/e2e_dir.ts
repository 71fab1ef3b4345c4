/**
 * A stage-3 (e2e) model directory: `model.safetensors` (the whole {@linkcode ClaraE2E}: frozen
 * base and compressor, generator and reasoner adapters, query tokens), `config.json` (the stage-2
 * run config, the reasoner's shape, k and τ) and `tokenizer.json`, swapped in as one directory.
 *
 * @module
 */
import { DecoderOnly } from "../../core/nn/stacks.ts";
import { loadSafetensors, saveSafetensors, writeFileAtomic } from "../../core/io/safetensors.ts";
import { replaceDirectory } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";
import { ClaraE2E, type ReasonerOptions } from "./e2e_model.ts";
import { memoryModel, type MemoryRunConfig } from "./memory_dir.ts";

/** The format tag of an e2e model directory. */
export const E2E_FORMAT = "fast-clara-e2e/1";

/** What `config.json` of an e2e directory holds. */
export interface E2ERunConfig {
  format: typeof E2E_FORMAT;
  stage: "e2e";
  /** The stage-2 model's config it started from. */
  memoryRun: MemoryRunConfig;
  reasoner: ReasonerOptions;
  /** Documents selected per question. */
  k: number;
  /** Temperature of the soft selection. */
  tau: number;
}

const encoder = new TextEncoder();

/** Writes weights, config and tokenizer as the directory `dir`. */
export async function saveE2EModel(
  dir: string,
  model: ClaraE2E,
  run: E2ERunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  await replaceDirectory(dir, async (partial) => {
    await writeFileAtomic(
      `${partial}/tokenizer.json`,
      encoder.encode(JSON.stringify(tokenizer.json)),
    );
    await writeFileAtomic(
      `${partial}/config.json`,
      encoder.encode(JSON.stringify(run, null, 2) + "\n"),
    );
    await saveSafetensors(`${partial}/model.safetensors`, model.stateDict(), {
      format: E2E_FORMAT,
      config: JSON.stringify(run),
    });
  });
}

/** Loads an e2e directory; errors name the file and what was expected. */
export async function loadE2EModel(
  dir: string,
): Promise<{ model: ClaraE2E; run: E2ERunConfig; tokenizer: TextTokenizer }> {
  const path = `${dir}/config.json`;
  let run: E2ERunConfig;
  try {
    run = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: not a CLaRa e2e directory (${(e as Error).message})`);
  }
  if (run.format !== E2E_FORMAT) {
    throw new Error(
      `${path}: format "${run.format}", expected "${E2E_FORMAT}" (a --stage e2e output)`,
    );
  }
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const lm = new DecoderOnly(run.memoryRun.base);
  const model = new ClaraE2E(memoryModel(lm, run.memoryRun.memory), run.reasoner);
  lm.dispose();
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, run, tokenizer };
}
