/**
 * Latent-bottleneck QA (system 3 of the design): an encoder–decoder whose encoder output is the
 * question's states followed by a fixed number of latents that a Perceiver selector distils from
 * a long context, behind a Flamingo-style tanh gate that starts closed. The same class with
 * `kind: "baseline"` is the concatenation baseline: the plain encoder–decoder over one source
 * sequence (question and context together). Both share every size, so the comparison is fair.
 *
 * @module
 */
import { Module } from "../nn/module.ts";
import { Dropout } from "../nn/layers.ts";
import { EncoderDecoder, type StackConfig } from "../nn/stacks.ts";
import { PerceiverSelector, TanhGate } from "../nn/perceiver.ts";
import { generate, type Generation } from "../nn/generate.ts";
import { ones, type Tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";
import * as ops from "../ops/mod.ts";

/** Which of the two models. */
export type LatentQaKind = "latent" | "baseline";

/** Sizes of a {@linkcode LatentQaModel}. */
export interface LatentQaConfig {
  /** "latent" adds the selector and gate; "baseline" is the plain encoder–decoder. */
  kind: LatentQaKind;
  /** The encoder–decoder (its `maxLength` must cover the longest context or source). */
  stack: StackConfig;
  /** Learned latents of the selector (latent kind only). */
  latents: number;
  /** Cross-attention blocks of the selector. */
  selectorLayers: number;
  /** Attention heads of the selector. */
  selectorHeads: number;
  /** Dropout on the selected latents before the gate (training only). */
  selectorDropout: number;
}

/**
 * One batch of model input. Latent kind: `source` is the question and `context` the retrieved
 * context; baseline: `source` is question and context concatenated, and `context` is absent.
 */
export interface LatentQaInput {
  /** Token ids [B, S] (i32). */
  source: Tensor;
  /** 1/0 mask [B, S] of real source tokens. */
  sourcePadding: Tensor;
  /** Context token ids [B, C] (i32), latent kind only. */
  context?: Tensor;
  /** 1/0 mask [B, C] of real context tokens. */
  contextPadding?: Tensor;
}

/** What the decoder reads: encoder memory [B, M, D] with its padding [B, M]. */
export interface LatentQaMemory {
  /** Encoded source [B, S, D], followed by the gated latents [B, L, D] (latent kind): M = S + L. */
  memory: Tensor;
  /** 1/0 mask [B, M]: the source padding, then 1 for every latent. */
  padding: Tensor;
  /** The selector's last-layer attention over context tokens, averaged over heads [B, L, C]. */
  attn: Tensor | null;
}

/** Options of answer generation. */
export interface AnswerOptions {
  /** Decoder start token. */
  bos: number;
  /** End token (not returned). */
  eos: number;
  /** Most tokens per answer, the end token included. */
  maxNewTokens: number;
}

/** Parameters split by role, for per-group learning rates. */
export interface LatentQaParamGroups {
  /** The selector (empty for the baseline). */
  latent: Tensor[];
  /** The tanh gate's scalar (empty for the baseline). */
  gate: Tensor[];
  /** The encoder (question and context alike). */
  encoder: Tensor[];
  /** Target embeddings, decoder layers, final norm and the vocabulary head. */
  decoder: Tensor[];
}

/** The latent-bottleneck model or its baseline; see the module doc. */
export class LatentQaModel extends Module {
  /** The encoder–decoder; its encoder reads the question and the context. */
  readonly seq2seq: EncoderDecoder;
  /** The latent selector (null for the baseline). */
  readonly selector: PerceiverSelector | null;
  /** The tanh gate on the latents (null for the baseline). */
  readonly gate: TanhGate | null;
  readonly #drop: Dropout;

  /** A model of `config`'s kind and sizes. */
  constructor(readonly config: LatentQaConfig) {
    super();
    this.seq2seq = this.child("seq2seq", new EncoderDecoder(config.stack));
    const latent = config.kind === "latent";
    this.selector = latent
      ? this.child(
        "selector",
        new PerceiverSelector({
          latents: config.latents,
          layers: config.selectorLayers,
          heads: config.selectorHeads,
          dim: config.stack.dim,
          seed: config.stack.seed === undefined ? undefined : config.stack.seed + 7000,
        }),
      )
      : null;
    this.gate = latent ? this.child("gate", new TanhGate()) : null;
    this.#drop = this.child("selector_drop", new Dropout(config.selectorDropout));
  }

  /**
   * The decoder's memory: the encoded source, followed (latent kind) by
   * `tanh(g) · dropout(latents)` with the latents always marked real.
   */
  encode(input: LatentQaInput): LatentQaMemory {
    const encoded = this.seq2seq.encoder.forward(input.source, input.sourcePadding);
    if (!this.selector || !this.gate) {
      return { memory: encoded, padding: input.sourcePadding, attn: null };
    }
    if (!input.context || !input.contextPadding) {
      throw new Error("LatentQaModel (latent): the input needs context and contextPadding");
    }
    const context = this.seq2seq.encoder.forward(input.context, input.contextPadding);
    const { latents, attn } = this.selector.forward(context, input.contextPadding);
    const gated = this.gate.forward(this.#drop.forward(latents));
    const [b, l] = latents.shape;
    return {
      memory: ops.concat([encoded, gated], 1),
      padding: ops.concat([input.sourcePadding, ones([b, l])], 1),
      attn,
    };
  }

  /** Teacher-forced logits [B, T, V] for decoder input ids [B, T] (and the selector attention). */
  forward(
    input: LatentQaInput,
    targetIds: Tensor,
    targetPadding?: Tensor,
  ): { logits: Tensor; attn: Tensor | null } {
    const m = this.encode(input);
    return {
      logits: this.seq2seq.decode(targetIds, m.memory, m.padding, targetPadding),
      attn: m.attn,
    };
  }

  /** Greedy answers from `bos` through the KV-cached decoder (no gradients). */
  async generate(input: LatentQaInput, options: AnswerOptions): Promise<Generation> {
    const m = noGrad(() => tidy(() => this.encode(input)));
    try {
      return await this.generateFrom(m, input.source.shape[0], options);
    } finally {
      m.memory.dispose();
      m.attn?.dispose();
      // The baseline's padding is the caller's own mask.
      if (m.padding !== input.sourcePadding) m.padding.dispose();
    }
  }

  /** Greedy answers for `rows` questions from an {@linkcode encode}d memory (the caller owns it). */
  generateFrom(m: LatentQaMemory, rows: number, options: AnswerOptions): Promise<Generation> {
    const prompts = Array.from({ length: rows }, () => [options.bos]);
    return generate(this.seq2seq.decoderFor(m.memory, m.padding), { prompts }, options);
  }

  /** The trainable parameters by role (every parameter lands in exactly one group). */
  parameterGroups(): LatentQaParamGroups {
    const groups: LatentQaParamGroups = { latent: [], gate: [], encoder: [], decoder: [] };
    for (const [name, p] of this.namedParameters()) {
      if (!p.requiresGrad) continue;
      if (name.startsWith("selector.")) groups.latent.push(p);
      else if (name.startsWith("gate.")) groups.gate.push(p);
      else if (name.startsWith("seq2seq.encoder.")) groups.encoder.push(p);
      else groups.decoder.push(p);
    }
    return groups;
  }

  /** The gate's current tanh(g) (one sync); 0 for the baseline. */
  async gateValue(): Promise<number> {
    if (!this.gate) return 0;
    const [g] = await this.gate.gate.data();
    return Math.tanh(g);
  }
}
