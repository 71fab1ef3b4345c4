/**
 * The generic memory encoder–decoder: one shared transformer backbone run in two phases, each
 * with its own LoRA adapter when adapters are attached.
 *
 * **Encoder phase (compression):** the document's tokens and l memory tokens, the memory tokens
 * before the document (`memoryPlacement: "before"`, Fast CLaRa ABSA) or after it (`"after"`,
 * CLaRa), under bidirectional or causal attention; the final hidden states at the memory positions
 * are the memory [B, l, D]. **Decoder phase (generation):** `memory ⊕ prompt`, causal; the
 * decoder sees the document only through the memory. Logits come from an untied output head (a
 * base LM's) or from the token table (tied). The memory tokens are either vocabulary ids inside
 * the encoder input (ABSA's `[M0]…[M7]`) or learned vectors of their own (`memoryEmbeddings`,
 * needed when a pretrained tokenizer has no memory tokens); their count l is fixed, or follows
 * the document's length at a compression rate.
 *
 * {@linkcode MemoryLM.fromDecoderOnly} builds CLaRa's compressor and generator on a trained
 * causal LM: the base weights mapped by name and frozen, a compressor and a generator LoRA and the
 * memory embeddings trainable. Generation from a memory prefix runs through `core/nn/generate.ts`
 * (KV cache); the model is its own {@linkcode CachedDecoder} in the decoder phase. With
 * `promptCopy` a pointer-generator head lets the decoder copy tokens of its prompt (never of the
 * documents): {@linkcode MemoryLM.readTarget} and {@linkcode MemoryLM.targetNll} train it, and
 * generation decodes greedily from the mixture.
 *
 * ```ts
 * const model = models.MemoryLM.fromDecoderOnly(base, { memoryTokens: 64, compressionRate: 4, rank: 8 });
 * const memory = model.compress([docIds]);            // [1, ⌈|doc| / 4⌉, D]
 * const { tokens } = await model.generate(memory, [questionIds], { eos, maxNewTokens: 32 });
 * ```
 *
 * @module
 */
import { Module } from "../nn/module.ts";
import { Embedding, Linear } from "../nn/layers.ts";
import { type DecoderOnly, TransformerEncoder } from "../nn/stacks.ts";
import { LoRA } from "../nn/lora.ts";
import { maskedMean } from "../nn/losses.ts";
import {
  copyMixtureLogProbs,
  copyMixtureNll,
  copyMixtureTokenNll,
  type CopySource,
  FOLLOW_BONUS_INIT,
  followsOf,
  followsPreceding,
  labelMask,
  PointerHead,
} from "../nn/pointer.ts";
import { keep } from "../scope.ts";
import type { CacheStep, KVCache } from "../nn/kv_cache.ts";
import {
  type CachedDecoder,
  generate,
  type GenerateOptions,
  type Generation,
} from "../nn/generate.ts";
import { full, type Tensor, tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";
import {
  checkMemoryConfig,
  type MemoryAdapterOptions,
  type MemoryDecodeOptions,
  type MemoryEncodeOptions,
  type MemoryFromBaseOptions,
  type MemoryLMConfig,
  type MemoryReadOptions,
  type PhaseAdapters,
} from "./memory_lm_config.ts";
import { type DocumentBatch, documentBatch } from "./memory_batch.ts";

/** A teacher-forced read of a target: vocabulary logits and, with a copy head, the copy side. */
export interface TargetRead {
  /** Next-token logits [B, T, V]. */
  logits: Tensor;
  /** The prompt-copy side (null without `promptCopy`). */
  copy: { pGen: Tensor; source: CopySource } | null;
}

/** The memory encoder–decoder (see the module documentation). */
export class MemoryLM extends Module implements CachedDecoder {
  /** The shared backbone (embeddings, positions, layers, final norm). */
  readonly backbone: TransformerEncoder;
  /** Frozen pretrained word vectors [vocabSize, dim] (when `frozenWordVectors`). */
  readonly wordVectors: Embedding | null;
  /** Untied output projection (when `outputHead`). */
  readonly head: Linear | null;
  /** Learned memory-token vectors [memoryTokens, dim] (when `memoryEmbeddings`). */
  readonly memoryEmbeddings: Embedding | null;
  /** The prompt-copy head (when `promptCopy`). */
  readonly pointer: PointerHead | null;

  /** A model with fresh weights. */
  constructor(readonly config: MemoryLMConfig) {
    super();
    checkMemoryConfig(config);
    this.backbone = this.child(
      "backbone",
      new TransformerEncoder({
        vocabSize: config.vocabSize,
        dim: config.dim,
        heads: config.heads,
        hidden: config.hidden,
        activation: config.activation,
        layers: config.layers,
        maxLength: config.maxLength,
        dropout: config.dropout,
        seed: config.seed,
        positions: config.positions,
      }),
    );
    this.wordVectors = config.frozenWordVectors
      ? this.child(
        "word_vectors",
        new Embedding(config.vocabSize, config.dim, {
          init: new Float32Array(config.vocabSize * config.dim),
          frozen: true,
        }),
      )
      : null;
    this.head = config.outputHead
      ? this.child(
        "head",
        new Linear(config.dim, config.vocabSize, { seed: config.seed + 99_000 }),
      )
      : null;
    this.memoryEmbeddings = config.memoryEmbeddings
      ? this.child(
        "memory_embeddings",
        new Embedding(config.memoryTokens, config.dim, { std: 0.02, seed: config.seed + 90 }),
      )
      : null;
    this.pointer = config.promptCopy
      ? this.child(
        "pointer",
        new PointerHead(
          config.dim,
          config.seed + 97_000,
          config.copyFollow ? FOLLOW_BONUS_INIT : undefined,
        ),
      )
      : null;
  }

  /**
   * CLaRa's compressor and generator on a trained causal LM: the base's weights mapped by name
   * (`stack.*` → `backbone.*`, `head.*` → `head.*`) and frozen, learned memory embeddings, and
   * one LoRA adapter per phase; only the adapters and memory embeddings train. The base keeps
   * its own weights (they are copied).
   */
  static fromDecoderOnly(base: DecoderOnly, o: MemoryFromBaseOptions): MemoryLM {
    const c = base.config;
    const seed = o.seed ?? c.seed ?? 1;
    const model = new MemoryLM({
      vocabSize: c.vocabSize,
      dim: c.dim,
      heads: c.heads,
      layers: c.layers,
      hidden: c.hidden ?? 4 * c.dim,
      activation: c.activation,
      maxLength: c.maxLength,
      positions: c.positions,
      dropout: o.dropout ?? c.dropout ?? 0,
      seed,
      memoryTokens: o.memoryTokens,
      compressionRate: o.compressionRate,
      memoryPlacement: o.memoryPlacement ?? "after",
      encoderAttention: o.encoderAttention ?? "causal",
      memoryEmbeddings: true,
      outputHead: true,
      adapterNames: o.adapterNames ?? { encoder: "compressor", decoder: "generator" },
      promptCopy: o.promptCopy,
      copyFollow: o.copyFollow,
      memoryLayout: o.memoryLayout,
    });
    const mapped: Record<string, Tensor> = {};
    for (const [name, t] of base.namedParameters()) {
      const to = name.startsWith("stack.") ? `backbone.${name.slice(6)}` : name;
      mapped[to] = t;
    }
    const own = model.namedParameters().map(([n]) => n).filter((n) =>
      !n.startsWith("memory_embeddings.") && !n.startsWith("pointer.")
    );
    const missing = own.filter((n) => !(n in mapped));
    if (missing.length) {
      throw new Error(`MemoryLM.fromDecoderOnly: the base lacks ${missing.join(", ")}`);
    }
    model.loadStateDict(mapped, false);
    model.freeze(/.*/);
    model.attachAdapters(o);
    model.unfreeze(/^(memory_embeddings|pointer)\./);
    return model;
  }

  /** The LoRA adapter names of the two phases. */
  get adapterNames(): PhaseAdapters {
    return this.config.adapterNames ?? { encoder: "encoder", decoder: "decoder" };
  }

  /**
   * Attaches the encoder-phase and decoder-phase LoRA adapters to every targeted Linear of the
   * backbone and freezes the backbone's base weights (other parameters keep their state).
   */
  attachAdapters(o: MemoryAdapterOptions): void {
    const names = this.adapterNames;
    for (const [name, offset] of [[names.encoder, 500], [names.decoder, 600]] as const) {
      LoRA.wrap(this.backbone, {
        rank: o.rank,
        alpha: o.alpha,
        dropout: o.dropout,
        targets: o.targets ?? "all",
        name,
        seed: this.config.seed + offset,
      });
    }
  }

  /** Memory tokens l for a document of `tokens` tokens (the config's count without a rate). */
  memoryCount(tokens: number): number {
    const { memoryTokens, compressionRate } = this.config;
    if (compressionRate === undefined) return memoryTokens;
    return Math.min(memoryTokens, Math.max(1, Math.ceil(tokens / compressionRate)));
  }

  /** The vocabulary size (for {@linkcode CachedDecoder}). */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** The effective token table [vocabSize, dim]: learned rows plus the frozen word vectors. */
  tokenTable(): Tensor {
    const learned = this.backbone.embed.tokens.weight;
    return this.wordVectors ? ops.add(learned, this.wordVectors.weight) : learned;
  }

  /** Token embeddings [B, T, D] of ids [B, T] (plus the frozen word vectors), before positions. */
  embed(ids: Tensor): Tensor {
    const tokens = this.backbone.embed.tokens.forward(ids);
    return this.wordVectors ? ops.add(tokens, this.wordVectors.forward(ids)) : tokens;
  }

  /** Activates the adapter of a phase (a no-op without adapters). */
  protected usePhase(phase: keyof PhaseAdapters): void {
    LoRA.use(this, this.adapterNames[phase]);
  }

  /**
   * Encoder phase over ready embeddings x [B, S, D] whose first (memory before) or last (after)
   * `memoryTokens` positions are the memory tokens, under key padding [B, S]. Returns the memory
   * [B, l, D] and the document states [B, S − l, D].
   */
  encodeEmbeddings(
    x: Tensor,
    padding: Tensor,
    options: MemoryEncodeOptions = {},
  ): { memory: Tensor; text: Tensor } {
    this.usePhase("encoder");
    const l = options.memoryTokens ?? this.config.memoryTokens;
    const width = x.shape[1];
    if (l < 1 || l >= width) {
      throw new Error(`MemoryLM.encode: ${l} memory tokens in a sequence of ${width}`);
    }
    const causal = this.config.encoderAttention === "causal";
    const hidden = this.backbone.forwardEmbeddings(
      x,
      padding,
      causal,
      options.bias,
      options.positionIds,
    );
    return this.config.memoryPlacement === "after"
      ? { memory: ops.slice(hidden, 1, width - l, width), text: ops.slice(hidden, 1, 0, width - l) }
      : { memory: ops.slice(hidden, 1, 0, l), text: ops.slice(hidden, 1, l, width) };
  }

  /**
   * The memory [B, l, D] of {@linkcode encodeEmbeddings} alone, cheaper: the last layer computes
   * only the memory positions (their keys and values still come from every position). With the
   * memory before the document under causal attention it is the full pass, sliced.
   */
  encodeMemory(x: Tensor, padding: Tensor, options: MemoryEncodeOptions = {}): Tensor {
    const after = this.config.memoryPlacement === "after";
    const causal = this.config.encoderAttention === "causal";
    if (!after && causal) return this.encodeEmbeddings(x, padding, options).memory;
    this.usePhase("encoder");
    const l = options.memoryTokens ?? this.config.memoryTokens;
    const width = x.shape[1];
    if (l < 1 || l >= width) {
      throw new Error(`MemoryLM.encode: ${l} memory tokens in a sequence of ${width}`);
    }
    const rows: [number, number] = after ? [width - l, width] : [0, l];
    return this.backbone.forwardEmbeddings(
      x,
      padding,
      causal,
      options.bias,
      options.positionIds,
      rows,
    );
  }

  /**
   * Encoder phase over token ids [B, T] with key padding [B, T]. With `memoryEmbeddings` the ids
   * are the document alone and l learned memory vectors join it (l from the options, default the
   * config's count; pad documents with {@linkcode documentBatch}); otherwise the ids already hold
   * the memory-token ids at their place. Returns the memory [B, l, D] and document states.
   */
  encode(
    ids: Tensor,
    padding: Tensor,
    options: MemoryEncodeOptions = {},
  ): { memory: Tensor; text: Tensor } {
    if (!this.memoryEmbeddings) {
      if (options.memoryTokens !== undefined && options.memoryTokens !== this.config.memoryTokens) {
        throw new Error(
          `MemoryLM.encode: memory tokens are vocabulary ids here; their count is fixed at ${this.config.memoryTokens}`,
        );
      }
      return this.encodeEmbeddings(this.embed(ids), padding, options);
    }
    const { x, keys, l } = this.#joinMemory(this.memoryEmbeddings, ids, padding, options);
    return this.encodeEmbeddings(x, keys, { ...options, memoryTokens: l });
  }

  /**
   * Documents padded for this model's encoder phase with l memory tokens (its placement and
   * memory layout; see {@linkcode documentBatch}).
   */
  documentBatch(docs: readonly (readonly number[])[], l: number): DocumentBatch {
    const { memoryPlacement, memoryLayout } = this.config;
    return documentBatch(docs, l, memoryPlacement ?? "before", 0, memoryLayout);
  }

  /**
   * Document embeddings of ids [B, T] with l learned memory vectors joined (seeded with their
   * chunks' mean embeddings in the chunked layout), and their padding.
   */
  #joinMemory(
    table: Embedding,
    ids: Tensor,
    padding: Tensor,
    options: MemoryEncodeOptions,
  ): { x: Tensor; keys: Tensor; l: number } {
    const l = options.memoryTokens ?? this.config.memoryTokens;
    if (!Number.isInteger(l) || l < 1 || l > this.config.memoryTokens) {
      throw new Error(
        `MemoryLM.encode: memoryTokens must be an integer in 1…${this.config.memoryTokens}, got ${l}`,
      );
    }
    const b = ids.shape[0];
    const slots = tensor(Array.from({ length: b * l }, (_, i) => i % l), [b, l], "i32");
    const ones = full([b, l], 1);
    const after = this.config.memoryPlacement === "after";
    const tokens = this.embed(ids);
    let memory = table.forward(slots);
    if (this.config.memoryLayout === "chunked") {
      const chunks = options.chunks;
      if (!chunks || chunks.shape.join() !== [b, l, ids.shape[1]].join()) {
        throw new Error(
          `MemoryLM.encode: the chunked layout needs chunks [${b}, ${l}, ${ids.shape[1]}] ` +
            `(from documentBatch), got ${chunks ? `[${chunks.shape}]` : "none"}`,
        );
      }
      memory = ops.add(memory, ops.matmul(chunks, tokens));
    }
    const x = ops.concat(after ? [tokens, memory] : [memory, tokens], 1);
    const keys = ops.concat(after ? [padding, ones] : [ones, padding], 1);
    return { x, keys, l };
  }

  /**
   * Memories [B, l, D] of token-id documents, each padded to encode as it would alone, with
   * l = {@linkcode memoryCount} of the longest (or `memoryTokens`), by
   * {@linkcode encodeMemory}. Needs `memoryEmbeddings`.
   */
  compress(docs: readonly (readonly number[])[], memoryTokens?: number): Tensor {
    if (!this.memoryEmbeddings) {
      throw new Error("MemoryLM.compress: the model has no memory embeddings");
    }
    const l = memoryTokens ?? this.memoryCount(Math.max(...docs.map((d) => d.length)));
    const batch = this.documentBatch(docs, l);
    const joined = this.#joinMemory(this.memoryEmbeddings, batch.ids, batch.padding, {
      memoryTokens: l,
      chunks: batch.chunks,
    });
    return this.encodeMemory(joined.x, joined.keys, {
      memoryTokens: l,
      positionIds: batch.positionIds,
    });
  }

  /**
   * Causal decoder pass over memory [N, l, D] followed by embeddings x [N, P, D] with padding
   * [N, P]; returns the states of x [N, P, D].
   */
  decodeEmbeddings(
    memory: Tensor,
    x: Tensor,
    padding: Tensor,
    options: MemoryDecodeOptions = {},
  ): Tensor {
    this.usePhase("decoder");
    const [n, m] = memory.shape;
    const embeds = ops.concat([memory, x], 1);
    const keyPadding = ops.concat([options.memoryPadding ?? full([n, m], 1), padding], 1);
    const hidden = this.backbone.forwardEmbeddings(embeds, keyPadding, true);
    return ops.slice(hidden, 1, m, m + x.shape[1]);
  }

  /** Causal pass over memory [N, l, D] then token ids [N, P]; returns the tokens' states [N, P, D]. */
  decode(memory: Tensor, ids: Tensor, padding: Tensor, options: MemoryDecodeOptions = {}): Tensor {
    return this.decodeEmbeddings(memory, this.embed(ids), padding, options);
  }

  /**
   * Logits [..., V] of final states [..., D]: the output head, or the token table (tied; pass a
   * precomputed {@linkcode tokenTable} when it is reused).
   */
  logits(hidden: Tensor, table?: Tensor): Tensor {
    if (this.head) return this.head.forward(hidden);
    return ops.matmul(hidden, table ?? this.tokenTable(), { transB: true });
  }

  /**
   * Next-token logits [B, T, V] of a teacher-forced target read from memory: `inputIds` [B, T]
   * (the target shifted right behind a start token or a prompt) with its padding. `table` is
   * the tied output table when several targets share one step.
   */
  generateLogits(
    memory: Tensor,
    inputIds: Tensor,
    padding: Tensor,
    options: MemoryReadOptions = {},
  ): Tensor {
    return this.logits(this.decode(memory, inputIds, padding, options), options.table);
  }

  /**
   * A teacher-forced read of `inputIds` [B, T] after memory, as {@linkcode generateLogits}, and
   * for a `promptCopy` model the copy side: pointer weights from every position over the input
   * positions `promptMask` [B, T] marks (the prompt, which precedes the target, so no position
   * points past itself into the target) and their token ids.
   */
  readTarget(
    memory: Tensor,
    inputIds: Tensor,
    padding: Tensor,
    options: MemoryReadOptions = {},
  ): TargetRead {
    const hidden = this.decode(memory, inputIds, padding, options);
    const logits = this.logits(hidden, options.table);
    if (!this.pointer) return { logits, copy: null };
    if (!options.promptMask) throw new Error("MemoryLM.readTarget: a copy model needs promptMask");
    const { pointer, pGen } = this.pointer.forward(hidden, hidden, {
      padding: options.promptMask,
      follows: this.pointer.follow ? followsOf(inputIds, inputIds) : undefined,
    });
    return { logits, copy: { pGen, source: { weights: pointer, ids: inputIds } } };
  }

  /**
   * Mean −log p of `labels` [B, T] (i32; `ignoreIndex` skipped) under a {@linkcode readTarget}:
   * the vocabulary's cross-entropy, or the copy mixture's. A scalar.
   */
  targetNll(read: TargetRead, labels: Tensor, ignoreIndex: number): Tensor {
    if (!read.copy) return ops.crossEntropy(read.logits, labels, { ignoreIndex });
    return copyMixtureNll(read.logits, read.copy.pGen, read.copy.source, labels, ignoreIndex);
  }

  /**
   * {@linkcode targetNll} of each row alone [B]: the mean −log p of the row's labels (0 for a row
   * with none), so one forward scores many (memory, prompt, target) rows at once.
   */
  rowTargetNll(read: TargetRead, labels: Tensor, ignoreIndex: number): Tensor {
    const [b, t] = labels.shape;
    // Both give 0 at ignored positions, so only the counts need the mask.
    const nll = read.copy
      ? copyMixtureTokenNll(read.logits, read.copy.pGen, read.copy.source, labels, ignoreIndex)
      : ops.crossEntropy(read.logits, labels, { ignoreIndex, reduction: "none" }).reshape([b, t]);
    const counts = ops.sum(labelMask(labels, ignoreIndex), -1);
    return ops.div(ops.sum(nll, -1), ops.add(counts, 1e-9));
  }

  /** L_mse: squared distance between mean memory and the masked mean of document states. */
  alignmentLoss(memory: Tensor, text: Tensor, textPadding: Tensor): Tensor {
    return ops.mse(ops.mean(memory, 1), maskedMean(text, textPadding));
  }

  /** An empty KV cache for `rows` rows of decoder-phase generation. */
  newCache(rows: number): KVCache {
    return this.backbone.newCache(rows);
  }

  /** Decoder-phase final states [B, T, D] of a step's embeddings (see `generate.ts`). */
  hiddenCached(x: Tensor, cache: KVCache, step: CacheStep): Tensor {
    this.usePhase("decoder");
    return this.backbone.forwardCached(x, cache, step);
  }

  /**
   * Continues each prompt row after its memory [B, l, D] (padded per `memoryMask` [B][l])
   * greedily or by beam search, through {@linkcode generate} with a KV cache. A `promptCopy`
   * model decodes greedily from the mixture of its vocabulary and its copy of the prompt. The
   * caller keeps ownership of `memory`.
   */
  async generate(
    memory: Tensor,
    prompts: readonly (readonly number[])[],
    options: GenerateOptions & { memoryMask?: readonly (readonly number[])[] },
  ): Promise<Generation> {
    const input = { prompts, prefix: memory, prefixMask: options.memoryMask };
    if (!this.pointer) return generate(this, input, options);
    if ((options.beams ?? 1) !== 1) {
      throw new Error("MemoryLM.generate: a prompt-copy model decodes greedily (beams 1)");
    }
    const empty = prompts.findIndex((p) => p.length === 0);
    if (empty >= 0) {
      throw new Error(`MemoryLM.generate: prompt row ${empty} is empty (nothing to copy)`);
    }
    // The prefill's states of the prompt tokens (left-padded, as generate lays them out) are
    // what the pointer reads: kept from the first decoder call instead of decoding the prompt twice.
    const rows = prompts.length;
    const p = memory.shape[1];
    const width = Math.max(...prompts.map((row) => row.length));
    const hostIds = new Int32Array(rows * width);
    const hostMask = new Float32Array(rows * width);
    prompts.forEach((row, r) => {
      hostIds.set(row, (r + 1) * width - row.length);
      hostMask.fill(1, (r + 1) * width - row.length, (r + 1) * width);
    });
    const ids = tensor(hostIds, [rows, width], "i32");
    const mask = tensor(hostMask, [rows, width]);
    let states: Tensor | null = null;
    const pointer = this.pointer;
    // For the follow bonus: the token before each prompt position (−1 where none, padding
    // included), once; and the token each row reads now (its prompt's last, then its last pick).
    const preceding = pointer.follow
      ? tensor(precedingPromptIds(prompts, width), [rows, width])
      : null;
    let reading: Tensor | null = pointer.follow
      ? tensor(prompts.map((row) => row[row.length - 1]), [rows, 1])
      : null;
    const mixture: CachedDecoder = {
      vocabSize: this.vocabSize,
      embed: (x) => {
        if (reading && states) {
          reading.dispose();
          reading = keep(ops.cast(x, "f32")); // x: [rows, 1], this step's picks
        }
        return this.embed(x);
      },
      newCache: (n) => this.newCache(n),
      hiddenCached: (x, cache, step) => {
        const h = this.hiddenCached(x, cache, step);
        states ??= keep(ops.slice(h, 1, p, p + width));
        return h;
      },
      logits: (hidden) => {
        const h = hidden.reshape([rows, 1, this.config.dim]);
        const { pointer: weights, pGen } = pointer.forward(h, states!, {
          padding: mask,
          follows: reading ? followsPreceding(reading, preceding!) : undefined,
        });
        return copyMixtureLogProbs(this.logits(h), pGen, { weights, ids }, hostIds);
      },
    };
    try {
      return await generate(mixture, input, options);
    } finally {
      for (const t of [states, mask, ids, preceding, reading]) t?.dispose();
    }
  }
}

/** Row-major [rows, width] of left-padded prompts: the token before each position, −1 where none. */
function precedingPromptIds(prompts: readonly (readonly number[])[], width: number): Float32Array {
  const out = new Float32Array(prompts.length * width).fill(-1);
  prompts.forEach((row, r) => {
    const start = (r + 1) * width - row.length;
    for (let j = 1; j < row.length; j++) out[start + j] = row[j - 1];
  });
  return out;
}
