/**
 * A trained CLaRa compressor + generator on disk (the output of `--stage pretrain` and
 * `--stage instruct`): `model.safetensors` (the whole {@linkcode MemoryLM}: frozen base, both
 * LoRA adapters, memory embeddings), `config.json` (base shape, memory options, stage) and
 * `tokenizer.json`, swapped in as one directory. Also builds a fresh memory model on a stage-lm
 * base directory, with room for longer sequences than the base was trained on when its positions
 * are not learned (rotary tables are computed, not trained).
 *
 * @module
 */
import { DecoderOnly, type StackConfig } from "../../core/nn/stacks.ts";
import { MemoryLM } from "../../core/models/memory_lm.ts";
import { loadSafetensors, saveSafetensors, writeFileAtomic } from "../../core/io/safetensors.ts";
import { replaceDirectory } from "../../core/io/atomic.ts";
import { TextTokenizer } from "../../datasets/tokenizer.ts";
import { LM_FORMAT, type LmRunConfig } from "./model_dir.ts";

/** The format tag of a CLaRa memory-model directory. */
export const MEMORY_FORMAT = "fast-clara-memory/1";

/** How the compressor and generator are shaped. */
export interface MemoryOptions {
  /** Most memory tokens per document (the fixed l when `compressionRate` is absent). */
  memoryTokens: number;
  /** l = min(memoryTokens, ⌈doc tokens / rate⌉) per compression call when set. */
  compressionRate?: number;
  /** LoRA rank of both adapters. */
  rank: number;
  /** Document tokens kept (longer documents are cut). */
  docTokens: number;
}

/** What `config.json` of a memory-model directory holds. */
export interface MemoryRunConfig {
  format: typeof MEMORY_FORMAT;
  /** The stage that wrote it. */
  stage: "pretrain" | "instruct";
  /** The base LM's shape (maxLength as extended for memories + prompts). */
  base: StackConfig;
  memory: MemoryOptions;
}

const encoder = new TextEncoder();

/** The compressor + generator of `m` on a base LM (its weights copied and frozen). */
export function memoryModel(base: DecoderOnly, m: MemoryOptions): MemoryLM {
  return MemoryLM.fromDecoderOnly(base, {
    memoryTokens: m.memoryTokens,
    compressionRate: m.compressionRate,
    rank: m.rank,
  });
}

async function readJson<T>(path: string, what: string): Promise<T> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    throw new Error(`${path}: not ${what} (${(e as Error).message})`);
  }
}

/**
 * A memory model on the base LM of stage-lm directory `dir` (its best model), the positions
 * extended to `maxLength`; its base weights frozen, adapters and memory embeddings trainable.
 */
export async function memoryModelFromBase(
  dir: string,
  m: MemoryOptions,
  maxLength: number,
): Promise<{ model: MemoryLM; base: StackConfig; tokenizer: TextTokenizer }> {
  const run = await readJson<LmRunConfig>(`${dir}/config.json`, "a CLaRa base-LM directory");
  if (run.format !== LM_FORMAT) {
    throw new Error(`${dir}/config.json: format "${run.format}", expected "${LM_FORMAT}"`);
  }
  if (maxLength > run.model.maxLength && (run.model.positions ?? "learned") === "learned") {
    throw new Error(
      `${dir}: the base has learned positions for ${run.model.maxLength} tokens; ` +
        `${maxLength} are needed (use fewer documents or memory tokens)`,
    );
  }
  const base: StackConfig = { ...run.model, maxLength: Math.max(maxLength, run.model.maxLength) };
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const lm = new DecoderOnly(base);
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    lm.loadStateDict(tensors);
    return { model: memoryModel(lm, m), base, tokenizer };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
    lm.dispose();
  }
}

/** Writes weights, config and tokenizer as the directory `dir`. */
export async function saveMemoryModel(
  dir: string,
  model: MemoryLM,
  run: MemoryRunConfig,
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
      format: MEMORY_FORMAT,
      config: JSON.stringify(run),
    });
  });
}

/** Loads a memory-model directory; errors name the file and what was expected. */
export async function loadMemoryModel(
  dir: string,
): Promise<{ model: MemoryLM; run: MemoryRunConfig; tokenizer: TextTokenizer }> {
  const path = `${dir}/config.json`;
  const run = await readJson<MemoryRunConfig>(path, "a CLaRa memory-model directory");
  if (run.format !== MEMORY_FORMAT) {
    throw new Error(
      `${path}: format "${run.format}", expected "${MEMORY_FORMAT}" ` +
        `(a --stage pretrain or --stage instruct output)`,
    );
  }
  const tokenizer = await TextTokenizer.load(`${dir}/tokenizer.json`);
  const lm = new DecoderOnly(run.base);
  const model = memoryModel(lm, run.memory);
  lm.dispose();
  const { tensors } = await loadSafetensors(`${dir}/model.safetensors`);
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, run, tokenizer };
}
