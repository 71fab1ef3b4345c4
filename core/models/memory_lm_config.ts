/**
 * The configuration and call options of `MemoryLM` (core/models/memory_lm.ts).
 *
 * @module
 */
import type { Activation } from "../nn/layers.ts";
import type { PositionKind } from "../nn/positions.ts";
import type { Tensor } from "../tensor.ts";
import type { MemoryLayout } from "./memory_batch.ts";

/** Where the memory tokens sit in the encoder phase: before or after the document. */
export type MemoryPlacement = "before" | "after";

/** Attention of the encoder phase. */
export type EncoderAttention = "bidirectional" | "causal";

/** The LoRA adapter names of the two phases. */
export interface PhaseAdapters {
  /** Adapter active in the encoder phase (compression). */
  encoder: string;
  /** Adapter active in the decoder phase (generation). */
  decoder: string;
}

/** Sizes and options of a `MemoryLM`. */
export interface MemoryLMConfig {
  /** Vocabulary size of the tokenizer. */
  vocabSize: number;
  /** Model width. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** Transformer layers of the shared backbone. */
  layers: number;
  /** MLP hidden width. */
  hidden: number;
  /** MLP activation of the backbone (default gelu). */
  activation?: Activation;
  /** Longest sequence in either phase (memory included). */
  maxLength: number;
  /** Memory tokens: the fixed count l, or with `compressionRate` the most the encoder emits. */
  memoryTokens: number;
  /** Residual and attention-output dropout. */
  dropout: number;
  /** Initialisation seed. */
  seed: number;
  /** Position encoding of the backbone (default learned). */
  positions?: PositionKind;
  /** Memory tokens before (default) or after the document in the encoder phase. */
  memoryPlacement?: MemoryPlacement;
  /** Encoder-phase attention (default bidirectional). */
  encoderAttention?: EncoderAttention;
  /**
   * Learned memory-token vectors [memoryTokens, dim] that `MemoryLM.encode` places
   * beside the document; without them the memory tokens are vocabulary ids inside the encoder
   * input (the first or last `memoryTokens` positions, by `memoryPlacement`).
   */
  memoryEmbeddings?: boolean;
  /** An untied output projection to the vocabulary (as a base LM has); else tied to the tokens. */
  outputHead?: boolean;
  /**
   * Keep pretrained word vectors in a frozen table added to the learned token table, so rows
   * of words never seen in training keep their pretrained meaning while the learned table only
   * adds a correction.
   */
  frozenWordVectors?: boolean;
  /** When set, a document of T tokens gets l = min(memoryTokens, ⌈T / rate⌉) memory tokens. */
  compressionRate?: number;
  /** LoRA adapter names of the phases (default `encoder` / `decoder`). */
  adapterNames?: PhaseAdapters;
  /**
   * A pointer-generator head in the decoder phase that copies tokens of the prompt (the
   * question), never of the documents: they still reach the generator only as memory.
   */
  promptCopy?: boolean;
  /**
   * With `promptCopy`: the pointer learns a bonus for the prompt position right after an
   * occurrence of the token the decoder reads (`PointerHead`'s `follow`), so that copied names
   * go on in order. Absent in older configs (no bonus).
   */
  copyFollow?: boolean;
  /**
   * How learned memory tokens sit beside the document (`documentBatch`'s `MemoryLayout`; default
   * `appended`, CLaRa's; absent in older configs).
   */
  memoryLayout?: MemoryLayout;
}

/** Options of `MemoryLM.encode`. */
export interface MemoryEncodeOptions {
  /** Memory tokens l of this call (with `memoryEmbeddings`; default the config's count). */
  memoryTokens?: number;
  /** Additive attention bias broadcastable to [B, heads, S, S] (S: document plus memory). */
  bias?: Tensor;
  /** Position ids [B, S] (i32) of the whole encoder sequence (see `documentBatch`). */
  positionIds?: Tensor;
  /** The chunked layout's [B, l, T] chunk averages (see `documentBatch`); needed by it. */
  chunks?: Tensor | null;
}

/** Options of `MemoryLM.decode`. */
export interface MemoryDecodeOptions {
  /** [N, l] 1 for real memory vectors, 0 for padding (all real when omitted). */
  memoryPadding?: Tensor;
}

/** Options of `MemoryLM.readTarget`. */
export interface MemoryReadOptions extends MemoryDecodeOptions {
  /** Tied output table, when several targets share one step. */
  table?: Tensor;
  /** [N, T] 1 on the input positions holding the prompt (what a `promptCopy` model copies). */
  promptMask?: Tensor;
}

/** Options of `MemoryLM.attachAdapters`. */
export interface MemoryAdapterOptions {
  /** Rank r of both adapters. */
  rank: number;
  /** Scale numerator α (default 2r). */
  alpha?: number;
  /** Which Linear layers of the backbone (default all). */
  targets?: string[] | RegExp | "all";
  /** Dropout on the adapters' input (default 0). */
  dropout?: number;
}

/** Options of `MemoryLM.fromDecoderOnly`. */
export interface MemoryFromBaseOptions extends MemoryAdapterOptions {
  /** Memory tokens: fixed l, or the most with `compressionRate`. */
  memoryTokens: number;
  /** l = min(memoryTokens, ⌈T / rate⌉) for a T-token document (default: always memoryTokens). */
  compressionRate?: number;
  /** Memory placement (default after the document, as CLaRa). */
  memoryPlacement?: MemoryPlacement;
  /** Encoder attention (default causal, as the base LM was trained). */
  encoderAttention?: EncoderAttention;
  /** Adapter names (default `compressor` / `generator`). */
  adapterNames?: PhaseAdapters;
  /** Dropout (default the base's). */
  dropout?: number;
  /** Seed of the adapters and memory embeddings (default the base's seed, or 1). */
  seed?: number;
  /** Add a fresh trainable prompt-copy head (see `MemoryLMConfig.promptCopy`). */
  promptCopy?: boolean;
  /** Its following-position bonus (see `MemoryLMConfig.copyFollow`). */
  copyFollow?: boolean;
  /** Memory layout (see `MemoryLMConfig.memoryLayout`). */
  memoryLayout?: MemoryLayout;
}

/** Throws unless the memory sizes of `c` are usable, naming the field. */
export function checkMemoryConfig(c: MemoryLMConfig): void {
  if (!Number.isInteger(c.memoryTokens) || c.memoryTokens < 1) {
    throw new Error(`MemoryLM: memoryTokens must be an integer ≥ 1, got ${c.memoryTokens}`);
  }
  if (c.compressionRate !== undefined && !(c.compressionRate > 0)) {
    throw new Error(`MemoryLM: compressionRate must be > 0, got ${c.compressionRate}`);
  }
  if (c.memoryLayout === "chunked" && (!c.memoryEmbeddings || c.memoryPlacement !== "after")) {
    throw new Error(
      "MemoryLM: the chunked memory layout needs memoryEmbeddings and memoryPlacement after",
    );
  }
  if (c.memoryTokens >= c.maxLength) {
    throw new Error(
      `MemoryLM: memoryTokens ${c.memoryTokens} leaves no room within maxLength ${c.maxLength}`,
    );
  }
}
