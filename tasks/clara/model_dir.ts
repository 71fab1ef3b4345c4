/**
 * A CLaRa base LM on disk: `model.safetensors` (weights, config in `__metadata__`), `config.json`
 * and `tokenizer.json`, swapped in as a whole directory so a reader never sees half of one.
 *
 * @module
 */
import { DecoderOnly, type StackConfig } from "../../core/nn/stacks.ts";
import { loadSafetensors, saveSafetensors, writeFileAtomic } from "../../core/io/safetensors.ts";
import { replaceDirectory } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";

/** The format tag of a base-LM directory. */
export const LM_FORMAT = "fast-clara-lm/1";

/** What `config.json` of a base-LM directory holds. */
export interface LmRunConfig {
  format: typeof LM_FORMAT;
  model: StackConfig;
  /** Tokens per training window. */
  seqLen: number;
}

const encoder = new TextEncoder();

/** Writes weights, config and tokenizer as the directory `dir`. */
export async function saveLmModel(
  dir: string,
  model: DecoderOnly,
  run: LmRunConfig,
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
      format: LM_FORMAT,
      config: JSON.stringify(run),
    });
  });
}

/** Loads a base-LM directory; errors name the file and what was expected. */
export async function loadLmModel(
  dir: string,
): Promise<{ model: DecoderOnly; run: LmRunConfig; tokenizer: TextTokenizer }> {
  const path = `${dir}/config.json`;
  let run: LmRunConfig;
  try {
    run = JSON.parse(await Deno.readTextFile(path)) as LmRunConfig;
  } catch (e) {
    throw new Error(`${path}: not a CLaRa base-LM directory (${(e as Error).message})`);
  }
  if (run.format !== LM_FORMAT) {
    throw new Error(`${path}: format "${run.format}", expected "${LM_FORMAT}"`);
  }
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const model = new DecoderOnly(run.model);
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, run, tokenizer };
}
