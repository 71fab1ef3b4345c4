/**
 * A trained CLaRa compressor + generator on disk (the output of `--stage pretrain` and
 * `--stage instruct`): `model.safetensors` (the whole {@linkcode MemoryLM}: the base — frozen, or
 * trained by `--train-base` — both LoRA adapters, memory embeddings), `config.json` (base shape,
 * memory options, stage, whether the base was trained) and
 * `tokenizer.json`, swapped in as one directory. Also builds a fresh memory model on a stage-lm
 * base directory, with room for longer sequences than the base was trained on when its positions
 * are not learned (rotary tables are computed, not trained).
 *
 * @module
 */
import { DecoderOnly, type StackConfig } from "../../core/nn/stacks.ts";
import { MemoryLM } from "../../core/models/memory_lm.ts";
import type { MemoryLayout } from "../../core/models/memory_batch.ts";
import type { DocumentReader } from "./memory_batch.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { loadRunTokenizer, loadRunWeights, readRunConfig, saveRunDirectory } from "./run_dir.ts";
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
  /** The generator copies from its prompt (`MemoryLM`'s `promptCopy`; absent in older dirs). */
  promptCopy?: boolean;
  /** Its pointer has the follow bonus (`MemoryLM`'s `copyFollow`; absent in older dirs). */
  copyFollow?: boolean;
  /** How memory tokens sit beside the document (`MemoryLM`'s `memoryLayout`; default appended). */
  memoryLayout?: MemoryLayout;
}

/** What `config.json` of a memory-model directory holds. */
export interface MemoryRunConfig {
  format: typeof MEMORY_FORMAT;
  /** The stage that wrote it. */
  stage: "pretrain" | "instruct";
  /** The base LM's shape (maxLength as extended for memories + prompts). */
  base: StackConfig;
  memory: MemoryOptions;
  /** The pretrain trained the base's weights too (`--train-base`); absent: the base is frozen. */
  baseTrained?: boolean;
  /**
   * `"text"`: an instruct generator trained on the documents' tokens instead of their memories
   * (`--reader text`, the trained text baseline); absent: it reads memories.
   */
  reader?: DocumentReader;
}

/** The compressor + generator of `m` on a base LM (its weights copied and frozen). */
export function memoryModel(base: DecoderOnly, m: MemoryOptions): MemoryLM {
  return MemoryLM.fromDecoderOnly(base, {
    memoryTokens: m.memoryTokens,
    compressionRate: m.compressionRate,
    rank: m.rank,
    promptCopy: m.promptCopy,
    copyFollow: m.copyFollow,
    memoryLayout: m.memoryLayout,
  });
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
  const run = await readRunConfig<LmRunConfig>(dir, LM_FORMAT, "a CLaRa base-LM directory");
  if (maxLength > run.model.maxLength && (run.model.positions ?? "learned") === "learned") {
    throw new Error(
      `${dir}: the base has learned positions for ${run.model.maxLength} tokens; ` +
        `${maxLength} are needed (use fewer documents or memory tokens)`,
    );
  }
  const base: StackConfig = { ...run.model, maxLength: Math.max(maxLength, run.model.maxLength) };
  const tokenizer = await loadRunTokenizer(dir);
  const lm = new DecoderOnly(base);
  try {
    await loadRunWeights(dir, lm);
    return { model: memoryModel(lm, m), base, tokenizer };
  } finally {
    lm.dispose();
  }
}

/** Writes weights, config and tokenizer as the directory `dir`. */
export function saveMemoryModel(
  dir: string,
  model: MemoryLM,
  run: MemoryRunConfig,
  tokenizer: TextTokenizer,
): Promise<void> {
  return saveRunDirectory(dir, model, run, tokenizer);
}

/**
 * Loads a memory-model directory; errors name the file and what was expected. With
 * `addPromptCopy` a directory without a prompt-copy head gets a fresh one (trainable, with the
 * follow bonus when `copyFollow`, and recorded in the returned run config). The directory's
 * generator must read one of `readers` (default: memories only), so a text-trained generator is
 * never used as a memory reader, nor the other way round.
 */
export async function loadMemoryModel(
  dir: string,
  options: {
    addPromptCopy?: boolean;
    copyFollow?: boolean;
    readers?: readonly DocumentReader[];
  } = {},
): Promise<{ model: MemoryLM; run: MemoryRunConfig; tokenizer: TextTokenizer }> {
  const run = await readRunConfig<MemoryRunConfig>(
    dir,
    MEMORY_FORMAT,
    "a CLaRa memory-model directory",
    "a --stage pretrain or --stage instruct output",
  );
  const reads = run.reader ?? "memory";
  if (!(options.readers ?? ["memory"]).includes(reads)) {
    throw new Error(
      `${dir}/config.json: its generator reads ${reads === "text" ? "text" : "memories"} ` +
        `("reader": ${JSON.stringify(reads)}), but ${
          reads === "memory"
            ? "a text reader (train:clara --stage instruct --reader text) is needed here"
            : "a memory reader is needed here (pass a text reader as eval:clara --text-checkpoint)"
        }`,
    );
  }
  const tokenizer = await loadRunTokenizer(dir);
  const fresh = options.addPromptCopy === true && !run.memory.promptCopy;
  const memory = fresh
    ? { ...run.memory, promptCopy: true, copyFollow: options.copyFollow === true }
    : run.memory;
  const lm = new DecoderOnly(run.base);
  const model = memoryModel(lm, memory);
  lm.dispose();
  await loadRunWeights(dir, model, fresh ? /^pointer\./ : undefined);
  return { model, run: { ...run, memory }, tokenizer };
}
