/**
 * A CLaRa base LM on disk: `model.safetensors` (weights, config in `__metadata__`), `config.json`
 * and `tokenizer.json`, swapped in as a whole directory so a reader never sees half of one.
 *
 * @module
 */
import { DecoderOnly, type StackConfig } from "../../core/nn/stacks.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { loadRunTokenizer, loadRunWeights, readRunConfig, saveRunDirectory } from "./run_dir.ts";

/** The format tag of a base-LM directory. */
export const LM_FORMAT = "fast-clara-lm/1";

/** What `config.json` of a base-LM directory holds. */
export interface LmRunConfig {
  format: typeof LM_FORMAT;
  model: StackConfig;
  /** Tokens per training window. */
  seqLen: number;
}

/** Writes weights, config and tokenizer as the directory `dir`. */
export function saveLmModel(
  dir: string,
  model: DecoderOnly,
  run: LmRunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  return saveRunDirectory(dir, model, run, tokenizer);
}

/** Loads a base-LM directory; errors name the file and what was expected. */
export async function loadLmModel(
  dir: string,
): Promise<{ model: DecoderOnly; run: LmRunConfig; tokenizer: TextTokenizer }> {
  const run = await readRunConfig<LmRunConfig>(dir, LM_FORMAT, "a CLaRa base-LM directory");
  const tokenizer = await loadRunTokenizer(dir);
  const model = new DecoderOnly(run.model);
  await loadRunWeights(dir, model);
  return { model, run, tokenizer };
}
