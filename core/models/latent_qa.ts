/**
 * Latent-bottleneck QA (system 3 of the design): an encoder–decoder whose encoder output is the
 * question's states followed by a fixed number of latents that a Perceiver selector distils from
 * a long context, behind a Flamingo-style tanh gate that starts closed. The same class with
 * `kind: "baseline"` is the concatenation baseline: the plain encoder–decoder over one source
 * sequence (question and context together). Both share every size, so the comparison is fair.
 *
 * With `copy`, both kinds get a pointer-generator head (`core/nn/pointer.ts`): the baseline
 * points at its source tokens; the latent kind at its question tokens and at its latents, a
 * latent passing its pointer weight on to the context tokens by the selector's attention (so the
 * decoder still reads L vectors, and copies through them). The latents' pointer scores carry
 * log(tanh²(g) + 1e-12), so a closed gate also closes that path and the initial model is the
 * question-only one.
 *
 * @module
 */
import { Module } from "../nn/module.ts";
import { Dropout } from "../nn/layers.ts";
import { EncoderDecoder, type StackConfig } from "../nn/stacks.ts";
import { PerceiverSelector, TanhGate } from "../nn/perceiver.ts";
import {
  copyMixtureLogProbs,
  type CopySource,
  FOLLOW_BONUS_INIT,
  followsPreceding,
  PointerHead,
  precedingIds,
} from "../nn/pointer.ts";
import { generate, type Generation } from "../nn/generate.ts";
import { full, ones, type Tensor, tensor, zeros } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { keep, tidy } from "../scope.ts";
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
  /** A pointer-generator copy head (see the module doc); absent in older model directories: off. */
  copy?: boolean;
  /**
   * With `copy`: the pointer's follow bonus on source positions (`PointerHead`'s `follow`), so a
   * copied span goes on in order; absent in older model directories: off.
   */
  copyFollow?: boolean;
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
  /** What the copy head reads (copy models only). */
  copy: CopyMemory | null;
}

/** The copy head's memory: the positions it points at and the token ids copying reaches. */
export interface CopyMemory {
  /** Pointer keys [B, M', D]: the encoded source, then (latent kind) the ungated latents. */
  states: Tensor;
  /** 1/0 mask [B, M'] of real positions. */
  padding: Tensor;
  /** Score bias [1, 1, M'] (latent kind): 0 on the source, log(tanh²(g) + 1e-12) on latents. */
  bias: Tensor | null;
  /** Token ids copying reaches [B, P] (i32): the source's, then (latent kind) the context's. */
  ids: Tensor;
  /**
   * With the follow bonus: the token before each pointer position [B, M'] (`precedingIds`; −1 on
   * the latents, which have no token before them).
   */
  preceding: Tensor | null;
}

/** The copy side of a teacher-forced forward. */
export interface LatentQaCopy {
  /** Probability of generating from the vocabulary [B, T, 1]. */
  pGen: Tensor;
  /** Copy weights over the ids of {@linkcode CopyMemory.ids}. */
  source: CopySource;
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
  /** The pointer-generator head (null without `copy`). */
  readonly pointer: PointerHead | null;
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
    this.pointer = config.copy
      ? this.child(
        "pointer",
        new PointerHead(
          config.stack.dim,
          config.stack.seed === undefined ? undefined : config.stack.seed + 8000,
          config.copyFollow ? FOLLOW_BONUS_INIT : undefined,
        ),
      )
      : null;
  }

  /**
   * The decoder's memory: the encoded source, followed (latent kind) by
   * `tanh(g) · dropout(latents)` with the latents always marked real.
   */
  encode(input: LatentQaInput): LatentQaMemory {
    const encoded = this.seq2seq.encoder.forward(input.source, input.sourcePadding);
    if (!this.selector || !this.gate) {
      const copy = this.pointer
        ? {
          states: encoded,
          padding: input.sourcePadding,
          bias: null,
          ids: input.source,
          preceding: this.pointer.follow ? precedingIds(input.source) : null,
        }
        : null;
      return { memory: encoded, padding: input.sourcePadding, attn: null, copy };
    }
    if (!input.context || !input.contextPadding) {
      throw new Error("LatentQaModel (latent): the input needs context and contextPadding");
    }
    const context = this.seq2seq.encoder.forward(input.context, input.contextPadding);
    const { latents, attn } = this.selector.forward(context, input.contextPadding);
    const gated = this.gate.forward(this.#drop.forward(latents));
    const [b, l] = latents.shape;
    const padding = ops.concat([input.sourcePadding, ones([b, l])], 1);
    let copy: CopyMemory | null = null;
    if (this.pointer) {
      const s = input.source.shape[1];
      const g = ops.tanh(this.gate.gate);
      const open = ops.log(ops.add(ops.mul(g, g), 1e-12)).reshape([1, 1, 1]);
      copy = {
        states: ops.concat([encoded, latents], 1),
        padding,
        bias: ops.concat([zeros([1, 1, s]), ops.mul(ones([1, 1, l]), open)], 2),
        ids: ops.concat([input.source, input.context], 1),
        preceding: this.pointer.follow
          ? ops.concat([precedingIds(input.source), full([b, l], -1)], 1)
          : null,
      };
    }
    return { memory: ops.concat([encoded, gated], 1), padding, attn, copy };
  }

  /** Frees what {@linkcode encode} made for `input` (not the caller's own input tensors). */
  releaseMemory(m: LatentQaMemory, input: LatentQaInput): void {
    const own = new Set<Tensor>([input.source, input.sourcePadding]);
    if (input.context) own.add(input.context);
    const made = new Set<Tensor | null | undefined>([
      m.memory,
      m.padding,
      m.attn,
      m.copy?.states,
      m.copy?.padding,
      m.copy?.bias,
      m.copy?.ids,
      m.copy?.preceding,
    ]);
    for (const t of made) if (t && !own.has(t)) t.dispose();
  }

  /**
   * The copy side for final decoder states h [B, T, D] reading `m` (copy models only), the
   * decoder reading token ids `readIds` [B, T] (for the follow bonus, on source positions only:
   * a latent has no token before it).
   */
  copyFrom(h: Tensor, m: LatentQaMemory, readIds: Tensor): LatentQaCopy {
    if (!this.pointer || !m.copy) throw new Error("LatentQaModel: this model has no copy head");
    const c = m.copy;
    const { pointer, pGen } = this.pointer.forward(h, c.states, {
      padding: c.padding,
      bias: c.bias ?? undefined,
      follows: c.preceding ? followsPreceding(readIds, c.preceding) : undefined,
    });
    if (!m.attn) return { pGen, source: { weights: pointer, ids: c.ids } };
    const all = c.states.shape[1];
    const s = all - m.attn.shape[1];
    const throughLatents = ops.matmul(ops.slice(pointer, 2, s, all), m.attn);
    return {
      pGen,
      source: { weights: ops.concat([ops.slice(pointer, 2, 0, s), throughLatents], 2), ids: c.ids },
    };
  }

  /** Teacher-forced logits [B, T, V] for decoder input ids [B, T] (and the selector attention). */
  forward(
    input: LatentQaInput,
    targetIds: Tensor,
    targetPadding?: Tensor,
  ): { logits: Tensor; attn: Tensor | null; copy: LatentQaCopy | null } {
    const m = this.encode(input);
    const h = this.seq2seq.decodeHidden(targetIds, m.memory, m.padding, targetPadding);
    return {
      logits: this.seq2seq.head.forward(h),
      attn: m.attn,
      copy: this.pointer ? this.copyFrom(h, m, targetIds) : null,
    };
  }

  /** Greedy answers from `bos` through the KV-cached decoder (no gradients). */
  async generate(input: LatentQaInput, options: AnswerOptions): Promise<Generation> {
    const m = noGrad(() => tidy(() => this.encode(input)));
    try {
      return await this.generateFrom(m, input.source.shape[0], options);
    } finally {
      this.releaseMemory(m, input);
    }
  }

  /**
   * Greedy answers for `rows` questions from an {@linkcode encode}d memory (the caller owns it);
   * a copy model decodes from the mixture of vocabulary and copy distributions.
   */
  async generateFrom(m: LatentQaMemory, rows: number, options: AnswerOptions): Promise<Generation> {
    const prompts = Array.from({ length: rows }, () => [options.bos]);
    const decoder = this.seq2seq.decoderFor(m.memory, m.padding);
    if (!this.pointer) return generate(decoder, { prompts }, options);
    if (rows !== m.memory.shape[0]) {
      throw new Error(`LatentQaModel: a copy model generates one row per memory row, got ${rows}`);
    }
    const ids = await m.copy!.ids.data();
    // The token each row reads now (bos, then its last pick), for the follow bonus.
    let reading: Tensor = tensor(prompts.map(([bos]) => bos), [rows, 1]);
    const mixture = {
      ...decoder,
      embed: (x: Tensor) => {
        reading.dispose();
        reading = keep(ops.cast(x, "f32")); // x: [rows, 1], this step's input
        return decoder.embed(x);
      },
      logits: (hidden: Tensor) => {
        const h = hidden.reshape([rows, 1, hidden.shape.at(-1)!]);
        const copy = this.copyFrom(h, m, reading);
        return copyMixtureLogProbs(this.seq2seq.head.forward(h), copy.pGen, copy.source, ids);
      },
    };
    try {
      return await generate(mixture, { prompts }, options);
    } finally {
      reading.dispose();
    }
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
