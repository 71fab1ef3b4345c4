/**
 * The on-disk shape every CLaRa model directory shares (base LM, memory model, e2e model):
 * `model.safetensors` (weights, the run config in `__metadata__`), `config.json` (the run config,
 * tagged with its format) and `tokenizer.json`, swapped in as one directory so a reader never sees
 * half of one. Each directory kind adds only how its model is built from its config.
 *
 * @module
 */
import type { Module } from "../../core/nn/module.ts";
import { loadSafetensors, saveSafetensors, writeFileAtomic } from "../../core/io/safetensors.ts";
import { replaceDirectory } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";

const encoder = new TextEncoder();

/** Writes `model`'s weights, the run config `run` and the tokenizer as the directory `dir`. */
export async function saveRunDirectory(
  dir: string,
  model: Module,
  run: { format: string },
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
      format: run.format,
      config: JSON.stringify(run),
    });
  });
}

/**
 * Reads `dir/config.json` and checks its format tag. `what` names the directory kind in the
 * error (e.g. "a CLaRa base-LM directory"); `hint`, when given, says which command writes it.
 */
export async function readRunConfig<R extends { format: string }>(
  dir: string,
  format: R["format"],
  what: string,
  hint = "",
): Promise<R> {
  const path = `${dir}/config.json`;
  let run: R;
  try {
    run = JSON.parse(await Deno.readTextFile(path)) as R;
  } catch (e) {
    throw new Error(`${path}: not ${what} (${(e as Error).message})`);
  }
  if (run.format !== format) {
    throw new Error(
      `${path}: format "${run.format}", expected "${format}"${hint ? ` (${hint})` : ""}`,
    );
  }
  return run;
}

/** The tokenizer of a run directory. */
export function loadRunTokenizer(dir: string): Promise<TextTokenizer> {
  return TextTokenizer.load(`${dir}/tokenizer.json`);
}

/**
 * Loads `dir/model.safetensors` into `model` (the host copies are released either way). Every
 * parameter must be in the file except those named by `mayLack` (a part added to a trained
 * model, which keeps its fresh weights).
 */
export async function loadRunWeights(dir: string, model: Module, mayLack?: RegExp): Promise<void> {
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors, true, mayLack);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
