/**
 * Fast CLaRa for aspect-based sentiment: one shared transformer backbone run in two phases.
 * Encoder phase (compression): `[M0]…[M(m−1)] [CLS] sentence [SEP]` with bidirectional attention;
 * the final hidden states at the m memory positions are the memory. Decoder phase (reasoning):
 * `memory ⊕ prompt` with causal attention, where the prompt names the aspect; the polarity is read
 * from the last prompt position. The decoder sees the sentence only through the memory.
 *
 * The generic half (both phases, LoRA phase switching, frozen word vectors, teacher-forced
 * generation logits, the alignment loss) is {@linkcode MemoryLM}; this file adds the ABSA parts:
 * aspect slots and distances, the aspect-attention bias, local mixing and the polarity heads.
 *
 * @module
 */
import { Embedding, Linear } from "../nn/layers.ts";
import { LocalMix } from "../nn/local_mix.ts";
import { full, type Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";
import { MemoryLM } from "./memory_lm.ts";
import type {
  MemoryDecodeOptions,
  MemoryEncodeOptions,
  MemoryLMConfig,
} from "./memory_lm_config.ts";

/** Aspects beyond this index share the last slot vector. */
export const MAX_ASPECT_SLOTS = 16;
/** Token distances to the nearest aspect term beyond this share the last distance vector. */
export const MAX_ASPECT_DISTANCE = 16;
/** The distance bucket of tokens outside the sentence (memory, [CLS], [SEP], padding). */
export const NO_ASPECT_DISTANCE: number = MAX_ASPECT_DISTANCE + 1;

/**
 * Initial aspect-attention bias [NO_ASPECT_DISTANCE + 1, heads]: head h > 0 scores a key at
 * distance d from its aspect's term −d·4^(h+1−heads) (a slope of 1 on the last head), head 0 is flat;
 * keys outside the sentence sit at half the longest distance.
 */
function distancePenalty(heads: number): Float32Array {
  const values = new Float32Array((NO_ASPECT_DISTANCE + 1) * heads);
  for (let d = 0; d <= NO_ASPECT_DISTANCE; d++) {
    const distance = d === NO_ASPECT_DISTANCE ? MAX_ASPECT_DISTANCE / 2 : d;
    for (let h = 1; h < heads; h++) values[d * heads + h] = -distance * 4 ** (h + 1 - heads);
  }
  return values;
}

/**
 * Sizes and options of a {@linkcode FastClaraAbsa} model: a {@linkcode MemoryLMConfig} whose
 * memory tokens are vocabulary ids before the sentence (bidirectional encoder, tied output), plus
 * the ABSA parts.
 */
export interface FastClaraAbsaConfig extends MemoryLMConfig {
  /** Number of polarity classes. */
  labels: number;
  /**
   * Learn aspect-slot vectors: the k-th aspect's vector is added to its term's tokens in the
   * encoder phase and to its prompt in the decoder phase, so the decoder can find that aspect's
   * part of the memory.
   */
  markAspects?: boolean;
  /**
   * With `markAspects`: memory tokens carry aspect slots too (the memory is shared out among the
   * sentence's aspects; see `collateAbsa`).
   */
  slotMemory?: boolean;
  /**
   * With `markAspects`: every sentence token carries the slot of its nearest aspect term (not only
   * the term's own tokens) plus a learned vector of its distance to that term, so the encoder
   * knows which aspect each opinion word most likely belongs to.
   */
  aspectRegions?: boolean;
  /**
   * When > 0, sentence embeddings pass a {@linkcode LocalMix} over this many neighbours on each
   * side before the encoder phase (n-gram features; memory tokens are not mixed).
   */
  localRadius?: number;
  /**
   * With `slotMemory`: in the encoder phase, a memory token's attention scores get a learned
   * per-head bias by the key's distance to the term of the aspect owning that memory token
   * (initialised as a distance penalty of a different slope per head, the first head flat).
   */
  aspectAttention?: boolean;
  /**
   * With `markAspects`: a second polarity head reads each aspect's term tokens in the encoder's
   * sentence states (see {@linkcode FastClaraAbsa.classifyTerms}), a training-only auxiliary that
   * gives the encoder a short gradient path to aspect sentiment; predictions still come from the
   * decoder through the memory.
   */
  termHead?: boolean;
}

/**
 * `c` with the options that build on another switched off when that one is: slot memory, aspect
 * regions and the term head need `markAspects`; aspect attention needs slot memory.
 */
export function consistentAbsaConfig(c: FastClaraAbsaConfig): FastClaraAbsaConfig {
  const markAspects = c.markAspects === true;
  const slotMemory = markAspects && c.slotMemory === true;
  return {
    ...c,
    markAspects,
    slotMemory,
    aspectRegions: markAspects && c.aspectRegions === true,
    aspectAttention: slotMemory && c.aspectAttention === true,
    termHead: markAspects && c.termHead === true,
  };
}

/** Inputs of the decoder phase: per-aspect memory rows and left-padded prompts. */
export interface AbsaPrompts {
  /** i32 [N]: which memory row (sentence) each aspect reads. */
  memoryIndex: Tensor;
  /** i32 [N, P]: prompt ids, left-padded so the last position is the answer slot. */
  ids: Tensor;
  /** f32 [N, P]: 1 for real prompt tokens. */
  padding: Tensor;
  /** i32 [N, P]: the aspect's slot on its prompt tokens (0 on padding). */
  slots?: Tensor;
}

/**
 * Options of {@linkcode FastClaraAbsa.encode}: the aspect marks of the encoder input (and, as for
 * any memory LM, optional position ids).
 */
export interface AbsaEncodeMarks extends Pick<MemoryEncodeOptions, "positionIds"> {
  /** i32 [B, m + T]: each token's aspect slot (used when the model marks aspects). */
  slots?: Tensor;
  /** i32 [B, m + T]: each token's distance bucket to the nearest aspect term (`aspectRegions`). */
  distances?: Tensor;
  /**
   * i32 [B, m, m + T]: each memory token's distance bucket from every key to its own aspect's
   * term (`aspectAttention`).
   */
  memoryDistances?: Tensor;
}

/** The ABSA memory-token model: a {@linkcode MemoryLM} with aspect slots and polarity heads. */
export class FastClaraAbsa extends MemoryLM {
  /** Polarity classifier on the answer slot. */
  readonly polarityHead: Linear;
  /** Aspect-slot vectors (when `markAspects`); slot 0 means "no aspect". */
  readonly aspectSlots: Embedding | null;
  /** Distance-to-nearest-aspect vectors (when `aspectRegions`). */
  readonly aspectDistances: Embedding | null;
  /** Local n-gram mixing of the sentence embeddings (when `localRadius` > 0). */
  readonly localMix: LocalMix | null;
  /** Per-head score bias by distance bucket [NO_ASPECT_DISTANCE + 1, heads] (`aspectAttention`). */
  readonly aspectAttention: Embedding | null;
  /** Auxiliary polarity head on the encoder's term states (when `termHead`). */
  readonly termHead: Linear | null;

  /** A model with fresh weights; the memory layout must be ABSA's (ids before the sentence). */
  constructor(override readonly config: FastClaraAbsaConfig) {
    const layout = [
      config.memoryPlacement === "after" && "memoryPlacement after",
      config.encoderAttention === "causal" && "causal encoder attention",
      config.memoryEmbeddings && "memoryEmbeddings",
      config.outputHead && "outputHead",
      config.compressionRate !== undefined && "compressionRate",
    ].filter((x) => x);
    if (layout.length) {
      throw new Error(
        `FastClaraAbsa: the ABSA model reads ${config.memoryTokens} memory-token ids before the sentence with bidirectional attention and a tied output; ${
          layout.join(", ")
        } not supported`,
      );
    }
    super(config);
    this.polarityHead = this.child(
      "polarity_head",
      new Linear(config.dim, config.labels, { seed: config.seed + 77 }),
    );
    this.aspectSlots = config.markAspects
      ? this.child(
        "aspect_slots",
        new Embedding(MAX_ASPECT_SLOTS + 1, config.dim, { std: 0.02, seed: config.seed + 78 }),
      )
      : null;
    this.aspectDistances = config.markAspects && config.aspectRegions
      ? this.child(
        "aspect_distances",
        new Embedding(NO_ASPECT_DISTANCE + 1, config.dim, { std: 0.02, seed: config.seed + 79 }),
      )
      : null;
    this.localMix = (config.localRadius ?? 0) > 0
      ? this.child(
        "local_mix",
        new LocalMix(config.dim, config.localRadius!, { seed: config.seed + 80 }),
      )
      : null;
    this.aspectAttention = config.aspectAttention
      ? this.child(
        "aspect_attention",
        new Embedding(NO_ASPECT_DISTANCE + 1, config.heads, {
          init: distancePenalty(config.heads),
        }),
      )
      : null;
    this.termHead = config.markAspects && config.termHead
      ? this.child("term_head", new Linear(config.dim, config.labels, { seed: config.seed + 81 }))
      : null;
  }

  /**
   * Encoder phase. `ids` [B, m + T] hold the m memory-token ids first, then the sentence;
   * `padding` [B, m + T] is 1 on real tokens; `marks` the aspect slots and distances (see
   * {@linkcode AbsaEncodeMarks}). Returns the memory [B, m, D] and the sentence states [B, T, D].
   */
  override encode(
    ids: Tensor,
    padding: Tensor,
    marks: AbsaEncodeMarks = {},
  ): { memory: Tensor; text: Tensor } {
    const m = this.config.memoryTokens;
    let embeddings = this.#embed(ids, marks.slots);
    if (this.aspectDistances && marks.distances) {
      embeddings = ops.add(embeddings, this.aspectDistances.forward(marks.distances));
    }
    const width = ids.shape[1];
    if (this.localMix) {
      const sentence = this.localMix.forward(
        ops.slice(embeddings, 1, m, width),
        ops.slice(padding, 1, m, width),
      );
      embeddings = ops.concat([ops.slice(embeddings, 1, 0, m), sentence], 1);
    }
    const bias = this.aspectAttention && marks.memoryDistances
      ? this.#memoryBias(marks.memoryDistances)
      : undefined;
    return this.encodeEmbeddings(embeddings, padding, { bias, positionIds: marks.positionIds });
  }

  /** Attention bias [B, H, m + T, m + T]: learned on memory-token rows, zero on sentence rows. */
  #memoryBias(memoryDistances: Tensor): Tensor {
    const [b, m, width] = memoryDistances.shape;
    const heads = this.config.heads;
    const memoryRows = ops.permute(this.aspectAttention!.forward(memoryDistances), [0, 3, 1, 2]);
    return ops.concat([memoryRows, full([b, heads, width - m, width], 0)], 2);
  }

  /** Token embeddings plus aspect-slot vectors where given. */
  #embed(ids: Tensor, slots?: Tensor): Tensor {
    const tokens = this.embed(ids);
    return this.aspectSlots && slots ? ops.add(tokens, this.aspectSlots.forward(slots)) : tokens;
  }

  /**
   * Causal pass over memory [N, m, D] followed by token ids [N, P] (with optional aspect slots
   * [N, P]); returns the states of the tokens [N, P, D].
   */
  override decode(
    memory: Tensor,
    ids: Tensor,
    padding: Tensor,
    options: MemoryDecodeOptions & { slots?: Tensor } = {},
  ): Tensor {
    return this.decodeEmbeddings(memory, this.#embed(ids, options.slots), padding, options);
  }

  /** Polarity logits [N, labels] for each aspect prompt, reading sentence memory [B, m, D]. */
  classify(memory: Tensor, prompts: AbsaPrompts): Tensor {
    const [b, m, d] = memory.shape;
    const rows = ops.gatherRows(memory.reshape([b, m * d]), prompts.memoryIndex).reshape([
      -1,
      m,
      d,
    ]);
    const states = this.decode(rows, prompts.ids, prompts.padding, { slots: prompts.slots });
    const p = prompts.ids.shape[1];
    return this.polarityHead.forward(ops.slice(states, 1, p - 1, p).reshape([-1, d]));
  }

  /**
   * Auxiliary polarity logits [N, labels] from the encoder's sentence states `text` [B, T, D]:
   * aspect i pools row `memoryIndex[i]` with `termWeights` [N, T] (its term tokens, summing to 1).
   */
  classifyTerms(text: Tensor, memoryIndex: Tensor, termWeights: Tensor): Tensor {
    if (!this.termHead) throw new Error("classifyTerms: the model was built without termHead");
    const [b, t, d] = text.shape;
    const rows = ops.gatherRows(text.reshape([b, t * d]), memoryIndex).reshape([-1, t, d]);
    const pooled = ops.matmul(termWeights.reshape([-1, 1, t]), rows).reshape([-1, d]);
    return this.termHead.forward(pooled);
  }
}
