/**
 * Whole transformer stacks: an encoder, an encoder–decoder and a decoder-only language model,
 * each decodable incrementally with a KV cache (generation itself lives in generate.ts).
 *
 * @module
 */
import { Module } from "./module.ts";
import { Embedding, LayerNorm, Linear } from "./layers.ts";
import { AbsolutePositions, type PositionKind, Rotary } from "./positions.ts";
import {
  type LayerConfig,
  TransformerDecoderLayer,
  TransformerEncoderLayer,
} from "./transformer.ts";
import type { PositionTransform } from "./attention.ts";
import { type CacheStep, KVCache } from "./kv_cache.ts";
import {
  type CachedDecoder,
  generate,
  type GenerateInput,
  type GenerateOptions,
  type Generation,
} from "./generate.ts";
import type { Tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";

/** Sizes of a stack. */
export interface StackConfig extends LayerConfig {
  /** Vocabulary size. */
  vocabSize: number;
  /** Number of layers. */
  layers: number;
  /** Longest sequence (for position tables). */
  maxLength: number;
  /** Position encoding (default learned). */
  positions?: PositionKind;
}

function seedAt(seed: number | undefined, k: number): number | undefined {
  return seed === undefined ? undefined : seed + 1000 * k;
}

/** Token embedding plus position handling shared by the stacks. */
class Embedder extends Module {
  readonly tokens: Embedding;
  readonly absolute: AbsolutePositions | null;
  readonly rotary: Rotary | null;
  readonly maxLength: number;

  constructor(c: StackConfig, seed?: number) {
    super();
    this.maxLength = c.maxLength;
    this.tokens = this.child("tokens", new Embedding(c.vocabSize, c.dim, { std: 0.02, seed }));
    const kind = c.positions ?? "learned";
    this.absolute = kind === "rotary"
      ? null
      : this.child("positions", new AbsolutePositions(kind, c.maxLength, c.dim, seedAt(seed, 1)));
    this.rotary = kind === "rotary" ? new Rotary(c.maxLength, c.dim / c.heads) : null;
  }

  /** Frees the parameters and the rotary tables. */
  override dispose(): void {
    super.dispose();
    this.rotary?.dispose();
  }

  /**
   * Adds absolute positions to embeddings [B, T, D] (identity for rotary): from `offset`, or at
   * per-row position ids [B, T].
   */
  place(x: Tensor, offset: number | Tensor = 0): Tensor {
    return this.absolute ? this.absolute.forward(x, offset) : x;
  }

  /** Throws unless a cached step's positions fit the position tables. */
  checkStep(step: CacheStep): void {
    if (step.end > this.maxLength) {
      throw new Error(
        `decoding reaches ${step.end} positions, beyond the model's maxLength ${this.maxLength}`,
      );
    }
  }

  get transform(): PositionTransform | undefined {
    return this.rotary?.apply;
  }
}

/** Embedding → encoder layers → final norm. */
export class TransformerEncoder extends Module {
  /** Embeddings and positions. */
  readonly embed: Embedder;
  /** The layers. */
  readonly layers: TransformerEncoderLayer[];
  /** Final norm. */
  readonly norm: LayerNorm;

  /** An encoder stack. */
  constructor(readonly config: StackConfig) {
    super();
    this.embed = this.child("embed", new Embedder(config, config.seed));
    this.layers = Array.from(
      { length: config.layers },
      (_, i) =>
        this.child(
          `layers.${i}`,
          new TransformerEncoderLayer({ ...config, seed: seedAt(config.seed, i + 2) }),
        ),
    );
    this.norm = this.child("norm", new LayerNorm(config.dim));
  }

  /**
   * Encodes embeddings [B, T, D] (already token-embedded) under a key-padding mask [B, T], with an
   * optional additive attention bias broadcastable to [B, heads, T, T] shared by all layers, at
   * positions 0…T−1 or at per-row position ids [B, T] (i32). With `rows` [start, end] only those
   * rows' final states are returned, [B, end − start, D], and the last layer computes only them
   * (see `TransformerEncoderLayer.forwardRows`).
   */
  forwardEmbeddings(
    x: Tensor,
    keyPadding?: Tensor,
    causal = false,
    bias?: Tensor,
    positionIds?: Tensor,
    rows?: readonly [number, number],
  ): Tensor {
    let h = this.embed.place(x, positionIds);
    const masks = { keyPadding, causal, bias, positions: this.embed.transform, positionIds };
    this.layers.forEach((layer, i) => {
      h = rows && i === this.layers.length - 1
        ? layer.forwardRows(h, rows[0], rows[1], masks)
        : layer.forward(h, masks);
    });
    return this.norm.forward(h);
  }

  /** Encodes token ids [B, T] (i32) → hidden states [B, T, D]. */
  forward(ids: Tensor, keyPadding?: Tensor): Tensor {
    return this.forwardEmbeddings(this.embed.tokens.forward(ids), keyPadding);
  }

  /** An empty KV cache for `rows` rows of {@linkcode forwardCached}. */
  newCache(rows: number): KVCache {
    return new KVCache(rows, this.layers.length);
  }

  /**
   * The causal pass of {@linkcode forwardEmbeddings} one step at a time: embeddings x [B, T, D]
   * of the step's new positions → their final states [B, T, D], reading and extending `cache`.
   */
  forwardCached(x: Tensor, cache: KVCache, step: CacheStep): Tensor {
    this.embed.checkStep(step);
    if (cache.self.length !== this.layers.length) {
      throw new Error(`cache has ${cache.self.length} layers, the stack ${this.layers.length}`);
    }
    let h = this.embed.place(x, step.positions);
    this.layers.forEach((layer, i) => {
      h = layer.forward(h, {
        mask: step.mask,
        positions: this.embed.transform,
        positionIds: step.positions,
        cache: cache.self[i],
      });
    });
    return this.norm.forward(h);
  }
}

/** Encoder–decoder transformer (seq2seq) with a language-model head. */
export class EncoderDecoder extends Module {
  /** Source encoder. */
  readonly encoder: TransformerEncoder;
  /** Target embeddings and positions. */
  readonly targetEmbed: Embedder;
  /** Decoder layers. */
  readonly decoderLayers: TransformerDecoderLayer[];
  /** Final decoder norm. */
  readonly norm: LayerNorm;
  /** Output projection to the vocabulary. */
  readonly head: Linear;

  /** An encoder–decoder with `layers` layers on each side. */
  constructor(readonly config: StackConfig) {
    super();
    this.encoder = this.child("encoder", new TransformerEncoder(config));
    this.targetEmbed = this.child("target_embed", new Embedder(config, seedAt(config.seed, 50)));
    this.decoderLayers = Array.from({ length: config.layers }, (_, i) =>
      this.child(
        `decoder.${i}`,
        new TransformerDecoderLayer({ ...config, seed: seedAt(config.seed, 60 + i) }),
      ));
    this.norm = this.child("norm", new LayerNorm(config.dim));
    this.head = this.child(
      "head",
      new Linear(config.dim, config.vocabSize, { seed: seedAt(config.seed, 99) }),
    );
  }

  /** Decodes target ids [B, T] against encoder memory [B, S, D] → logits [B, T, V]. */
  decode(
    targetIds: Tensor,
    memory: Tensor,
    memoryPadding?: Tensor,
    targetPadding?: Tensor,
  ): Tensor {
    return this.head.forward(this.decodeHidden(targetIds, memory, memoryPadding, targetPadding));
  }

  /** The final (normed) decoder states [B, T, D] that {@linkcode decode} projects to logits. */
  decodeHidden(
    targetIds: Tensor,
    memory: Tensor,
    memoryPadding?: Tensor,
    targetPadding?: Tensor,
  ): Tensor {
    let h = this.targetEmbed.place(this.targetEmbed.tokens.forward(targetIds));
    for (const layer of this.decoderLayers) {
      h = layer.forward(h, memory, {
        keyPadding: targetPadding,
        memoryPadding,
        positions: this.targetEmbed.transform,
      });
    }
    return this.norm.forward(h);
  }

  /** Teacher-forced logits [B, T, V] for source ids [B, S] and target input ids [B, T]. */
  forward(
    sourceIds: Tensor,
    targetIds: Tensor,
    sourcePadding?: Tensor,
    targetPadding?: Tensor,
  ): Tensor {
    return this.decode(
      targetIds,
      this.encoder.forward(sourceIds, sourcePadding),
      sourcePadding,
      targetPadding,
    );
  }

  /**
   * The decoder side as a {@linkcode CachedDecoder} reading encoder memory [B, S, D] (with its
   * padding [B, S]); generation rows must be a multiple of B (row r reads memory row ⌊r·B/rows⌋).
   * The caller keeps ownership of `memory`.
   */
  decoderFor(memory: Tensor, memoryPadding?: Tensor): CachedDecoder {
    return {
      vocabSize: this.config.vocabSize,
      embed: (ids) => this.targetEmbed.tokens.forward(ids),
      newCache: (rows) =>
        new KVCache(rows, this.decoderLayers.length, { states: memory, padding: memoryPadding }),
      hiddenCached: (x, cache, step) => {
        this.targetEmbed.checkStep(step);
        let h = this.targetEmbed.place(x, step.positions);
        this.decoderLayers.forEach((layer, i) => {
          h = layer.forward(h, cache.context!, {
            positions: this.targetEmbed.transform,
            cached: {
              self: cache.self[i],
              cross: cache.cross[i],
              mask: step.mask,
              positionIds: step.positions,
              memoryMask: cache.contextMask ?? undefined,
            },
          });
        });
        return this.norm.forward(h);
      },
      logits: (hidden) => this.head.forward(hidden),
    };
  }

  /**
   * Decodes each source row from `bos` (greedy, or beam search with `beams` > 1) through
   * {@linkcode generate}: a KV cache, one readback per generated token.
   */
  async generate(
    sourceIds: Tensor,
    options: GenerateOptions & { bos: number },
    sourcePadding?: Tensor,
  ): Promise<Generation> {
    const memory = noGrad(() => tidy(() => this.encoder.forward(sourceIds, sourcePadding)));
    try {
      const prompts = Array.from({ length: sourceIds.shape[0] }, () => [options.bos]);
      return await generate(this.decoderFor(memory, sourcePadding), { prompts }, options);
    } finally {
      memory.dispose();
    }
  }
}

/** Decoder-only (causal) transformer language model. */
export class DecoderOnly extends Module implements CachedDecoder {
  /** The causal stack (an encoder with causal masks). */
  readonly stack: TransformerEncoder;
  /** Output projection to the vocabulary. */
  readonly head: Linear;

  /** A decoder-only LM. */
  constructor(readonly config: StackConfig) {
    super();
    this.stack = this.child("stack", new TransformerEncoder(config));
    this.head = this.child(
      "head",
      new Linear(config.dim, config.vocabSize, { seed: seedAt(config.seed, 99) }),
    );
  }

  /** Token embeddings [B, T, D] of ids [B, T], for callers that splice in continuous vectors. */
  embed(ids: Tensor): Tensor {
    return this.stack.embed.tokens.forward(ids);
  }

  /** Causal hidden states [B, T, D] of embeddings [B, T, D]. */
  hidden(embeddings: Tensor, keyPadding?: Tensor): Tensor {
    return this.stack.forwardEmbeddings(embeddings, keyPadding, true);
  }

  /** Logits [B, T, V] of ids [B, T]. */
  forward(ids: Tensor, keyPadding?: Tensor): Tensor {
    return this.head.forward(this.hidden(this.embed(ids), keyPadding));
  }

  /** The vocabulary size (for {@linkcode CachedDecoder}). */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** An empty KV cache for `rows` generation rows. */
  newCache(rows: number): KVCache {
    return this.stack.newCache(rows);
  }

  /** Final states [B, T, D] of a step's embeddings x [B, T, D] (see TransformerEncoder.forwardCached). */
  hiddenCached(x: Tensor, cache: KVCache, step: CacheStep): Tensor {
    return this.stack.forwardCached(x, cache, step);
  }

  /** Logits [B, T, V] of final states [B, T, D]. */
  logits(hidden: Tensor): Tensor {
    return this.head.forward(hidden);
  }

  /**
   * Continues each prompt row (any lengths; after an optional continuous prefix [B, P, D] such as
   * memory tokens, padded per `prefixMask`) greedily or by beam search, through
   * {@linkcode generate}.
   */
  generate(
    promptIds: readonly (readonly number[])[],
    options: GenerateOptions & Omit<GenerateInput, "prompts">,
  ): Promise<Generation> {
    const { prefix, prefixMask } = options;
    return generate(this, { prompts: promptIds, prefix, prefixMask }, options);
  }
}
