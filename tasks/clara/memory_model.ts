/**
 * CLaRa's compressor and generator built on a stage-lm base directory: the base LM's weights
 * (frozen) inside a {@linkcode MemoryLM} with a compressor and a generator LoRA and learned
 * memory embeddings, the only parts that train.
 *
 * @module
 */
import { MemoryLM } from "../../core/models/memory_lm.ts";
import type { MemoryFromBaseOptions } from "../../core/models/memory_lm_config.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { type LmRunConfig, loadLmModel } from "./model_dir.ts";

/** Loads the base LM of `dir` (see `saveLmModel`) and builds the memory model on it. */
export async function loadClaraMemoryModel(
  dir: string,
  options: MemoryFromBaseOptions,
): Promise<{ model: MemoryLM; base: LmRunConfig; tokenizer: TextTokenizer }> {
  const { model: lm, run, tokenizer } = await loadLmModel(dir);
  try {
    return { model: MemoryLM.fromDecoderOnly(lm, options), base: run, tokenizer };
  } finally {
    lm.dispose();
  }
}
