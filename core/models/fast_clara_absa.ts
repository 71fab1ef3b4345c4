/**
 * Fast CLaRa for aspect-based sentiment: one shared transformer backbone run in two phases.
 * Encoder phase (compression): `[M0]…[M(m−1)] [CLS] sentence [SEP]` with bidirectional attention;
 * the final hidden states at the m memory positions are the memory. Decoder phase (reasoning):
 * `memory ⊕ prompt` with causal attention, where the prompt names the aspect; the polarity is read
 * from the last prompt position. The decoder sees the sentence only through the memory.
 *
 * @module
 */
import { Module } from "../nn/module.ts";
import { Embedding, Linear } from "../nn/layers.ts";
import { TransformerEncoder } from "../nn/stacks.ts";
import type { PositionKind } from "../nn/positions.ts";
import { LoRA } from "../nn/lora.ts";
import { LocalMix } from "../nn/local_mix.ts";
import { maskedMean } from "../nn/losses.ts";
import { full, type Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** Aspects beyond this index share the last slot vector. */
export const MAX_ASPECT_SLOTS = 16;
/** Token distances to the nearest aspect term beyond this share the last distance vector. */
export const MAX_ASPECT_DISTANCE = 16;
/** The distance bucket of tokens outside the sentence (memory, [CLS], [SEP], padding). */
export const NO_ASPECT_DISTANCE = MAX_ASPECT_DISTANCE + 1;

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

/** Sizes and special ids of a {@linkcode FastClaraAbsa} model. */
export interface FastClaraAbsaConfig {
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
  /** Longest sequence in either phase (memory included). */
  maxLength: number;
  /** Number of memory tokens m. */
  memoryTokens: number;
  /** Number of polarity classes. */
  labels: number;
  /** Residual and attention-output dropout. */
  dropout: number;
  /** Initialisation seed. */
  seed: number;
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
  /** Position encoding of the backbone (default learned). */
  positions?: PositionKind;
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
   * Keep pretrained word vectors in a frozen table added to the learned token table, so rows
   * of words never seen in training keep their pretrained meaning while the learned table only
   * adds a correction (see `initEmbeddingsFromGlove`).
   */
  frozenWordVectors?: boolean;
  /**
   * With `markAspects`: a second polarity head reads each aspect's term tokens in the encoder's
   * sentence states (see {@linkcode FastClaraAbsa.classifyTerms}), a training-only auxiliary that
   * gives the encoder a short gradient path to aspect sentiment; predictions still come from the
   * decoder through the memory.
   */
  termHead?: boolean;
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

/** The ABSA memory-token model. */
export class FastClaraAbsa extends Module {
  /** The shared backbone (embeddings, positions, layers, final norm). */
  readonly backbone: TransformerEncoder;
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
  /** Frozen pretrained word vectors [vocabSize, dim] (when `frozenWordVectors`). */
  readonly wordVectors: Embedding | null;
  /** Auxiliary polarity head on the encoder's term states (when `termHead`). */
  readonly termHead: Linear | null;

  /** A model with fresh weights. */
  constructor(readonly config: FastClaraAbsaConfig) {
    super();
    this.backbone = this.child(
      "backbone",
      new TransformerEncoder({
        vocabSize: config.vocabSize,
        dim: config.dim,
        heads: config.heads,
        hidden: config.hidden,
        layers: config.layers,
        maxLength: config.maxLength,
        dropout: config.dropout,
        seed: config.seed,
        positions: config.positions,
      }),
    );
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
    this.wordVectors = config.frozenWordVectors
      ? this.child(
        "word_vectors",
        new Embedding(config.vocabSize, config.dim, {
          init: new Float32Array(config.vocabSize * config.dim),
          frozen: true,
        }),
      )
      : null;
    this.termHead = config.markAspects && config.termHead
      ? this.child("term_head", new Linear(config.dim, config.labels, { seed: config.seed + 81 }))
      : null;
  }

  /** The effective token table [vocabSize, dim]: learned rows plus the frozen word vectors. */
  tokenTable(): Tensor {
    const learned = this.backbone.embed.tokens.weight;
    return this.wordVectors ? ops.add(learned, this.wordVectors.weight) : learned;
  }

  #phase(name: "encoder" | "decoder"): void {
    LoRA.use(this, name);
  }

  /**
   * Encoder phase. `ids` [B, m + T] hold the m memory-token ids first, then the sentence;
   * `padding` [B, m + T] is 1 on real tokens; `slots` [B, m + T] (i32) holds each token's aspect
   * slot (used when the model marks aspects) and `distances` [B, m + T] (i32) its distance bucket
   * to the nearest aspect term (used with `aspectRegions`); `memoryDistances` [B, m, m + T] (i32)
   * holds each memory token's distance bucket from every key to its own aspect's term (used with
   * `aspectAttention`). Returns the memory [B, m, D] and the sentence states [B, T, D].
   */
  encode(
    ids: Tensor,
    padding: Tensor,
    slots?: Tensor,
    distances?: Tensor,
    memoryDistances?: Tensor,
  ): { memory: Tensor; text: Tensor } {
    this.#phase("encoder");
    const m = this.config.memoryTokens;
    let embeddings = this.#embed(ids, slots);
    if (this.aspectDistances && distances) {
      embeddings = ops.add(embeddings, this.aspectDistances.forward(distances));
    }
    const width = ids.shape[1];
    if (this.localMix) {
      const sentence = this.localMix.forward(
        ops.slice(embeddings, 1, m, width),
        ops.slice(padding, 1, m, width),
      );
      embeddings = ops.concat([ops.slice(embeddings, 1, 0, m), sentence], 1);
    }
    const bias = this.aspectAttention && memoryDistances
      ? this.#memoryBias(memoryDistances)
      : undefined;
    const hidden = this.backbone.forwardEmbeddings(embeddings, padding, false, bias);
    return { memory: ops.slice(hidden, 1, 0, m), text: ops.slice(hidden, 1, m, width) };
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
    let tokens = this.backbone.embed.tokens.forward(ids);
    if (this.wordVectors) tokens = ops.add(tokens, this.wordVectors.forward(ids));
    return this.aspectSlots && slots ? ops.add(tokens, this.aspectSlots.forward(slots)) : tokens;
  }

  /**
   * Causal pass over memory [N, m, D] followed by token ids [N, P] (with optional aspect slots);
   * returns the states of the tokens [N, P, D].
   */
  decode(memory: Tensor, ids: Tensor, padding: Tensor, slots?: Tensor): Tensor {
    this.#phase("decoder");
    const [n, m] = memory.shape;
    const embeds = ops.concat([memory, this.#embed(ids, slots)], 1);
    const keyPadding = ops.concat([full([n, m], 1), padding], 1);
    const hidden = this.backbone.forwardEmbeddings(embeds, keyPadding, true);
    return ops.slice(hidden, 1, m, m + ids.shape[1]);
  }

  /** Polarity logits [N, labels] for each aspect prompt, reading sentence memory [B, m, D]. */
  classify(memory: Tensor, prompts: AbsaPrompts): Tensor {
    const [b, m, d] = memory.shape;
    const rows = ops.gatherRows(memory.reshape([b, m * d]), prompts.memoryIndex).reshape([
      -1,
      m,
      d,
    ]);
    const states = this.decode(rows, prompts.ids, prompts.padding, prompts.slots);
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

  /**
   * Next-token logits [B, T, V] of a teacher-forced target read from memory: `inputIds` [B, T]
   * (the target shifted right behind a start token) with its padding. Output embeddings are tied
   * to the input embeddings: `table` is {@linkcode FastClaraAbsa.tokenTable}, which callers that
   * generate several targets in one step compute once and pass in.
   */
  generateLogits(
    memory: Tensor,
    inputIds: Tensor,
    padding: Tensor,
    table: Tensor = this.tokenTable(),
  ): Tensor {
    const states = this.decode(memory, inputIds, padding);
    return ops.matmul(states, table, { transB: true });
  }

  /** L_mse: squared distance between mean memory and the masked mean of sentence states. */
  alignmentLoss(memory: Tensor, text: Tensor, textPadding: Tensor): Tensor {
    return ops.mse(ops.mean(memory, 1), maskedMean(text, textPadding));
  }
}
