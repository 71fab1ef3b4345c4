/**
 * Whole transformer stacks: an encoder, an encoder–decoder and a decoder-only language model,
 * with greedy generation.
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
import { type Tensor, tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";
import * as ops from "../ops/mod.ts";

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

  constructor(c: StackConfig, seed?: number) {
    super();
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

  /** Adds absolute positions to embeddings [B, T, D] (identity for rotary). */
  place(x: Tensor, offset = 0): Tensor {
    return this.absolute ? this.absolute.forward(x, offset) : x;
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
   * optional additive attention bias broadcastable to [B, heads, T, T] shared by all layers.
   */
  forwardEmbeddings(x: Tensor, keyPadding?: Tensor, causal = false, bias?: Tensor): Tensor {
    let h = this.embed.place(x);
    for (const layer of this.layers) {
      h = layer.forward(h, { keyPadding, causal, bias, positions: this.embed.transform });
    }
    return this.norm.forward(h);
  }

  /** Encodes token ids [B, T] (i32) → hidden states [B, T, D]. */
  forward(ids: Tensor, keyPadding?: Tensor): Tensor {
    return this.forwardEmbeddings(this.embed.tokens.forward(ids), keyPadding);
  }
}

/** Options of greedy decoding. */
export interface GenerateOptions {
  /** Token that starts decoding. */
  bos: number;
  /** Token that ends a sequence. */
  eos: number;
  /** Most new tokens. */
  maxNewTokens: number;
}

function argmaxRows(logits: Float32Array | Int32Array, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (logits[r * cols + c] > logits[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
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
    let h = this.targetEmbed.place(this.targetEmbed.tokens.forward(targetIds));
    for (const layer of this.decoderLayers) {
      h = layer.forward(h, memory, {
        keyPadding: targetPadding,
        memoryPadding,
        positions: this.targetEmbed.transform,
      });
    }
    return this.head.forward(this.norm.forward(h));
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

  /** Greedy decoding of each source row; one readback per generated token. */
  async generate(
    sourceIds: Tensor,
    options: GenerateOptions,
    sourcePadding?: Tensor,
  ): Promise<number[][]> {
    const b = sourceIds.shape[0];
    const memory = noGrad(() => tidy(() => this.encoder.forward(sourceIds, sourcePadding)));
    const seqs: number[][] = Array.from({ length: b }, () => [options.bos]);
    const done = new Array(b).fill(false);
    try {
      for (let step = 0; step < options.maxNewTokens && done.includes(false); step++) {
        const t = seqs[0].length;
        const last = noGrad(() =>
          tidy(() => {
            const ids = tensor(seqs.flat(), [b, t], "i32");
            const logits = this.decode(ids, memory, sourcePadding);
            return ops.slice(logits, 1, t - 1, t);
          })
        );
        const next = argmaxRows(await last.data(), b, this.config.vocabSize);
        last.dispose();
        next.forEach((tok, i) => {
          seqs[i].push(done[i] ? options.eos : tok);
          if (tok === options.eos) done[i] = true;
        });
      }
    } finally {
      memory.dispose();
    }
    return seqs.map((s) => {
      const body = s.slice(1);
      const end = body.indexOf(options.eos);
      return end < 0 ? body : body.slice(0, end);
    });
  }
}

/** Decoder-only (causal) transformer language model. */
export class DecoderOnly extends Module {
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

  /** Greedy continuation of each prompt row (equal lengths); one readback per token. */
  async generate(
    promptIds: number[][],
    options: Omit<GenerateOptions, "bos">,
  ): Promise<number[][]> {
    const b = promptIds.length;
    const seqs = promptIds.map((p) => [...p]);
    const start = seqs[0].length;
    const done = new Array(b).fill(false);
    for (let step = 0; step < options.maxNewTokens && done.includes(false); step++) {
      const t = seqs[0].length;
      const last = noGrad(() =>
        tidy(() => ops.slice(this.forward(tensor(seqs.flat(), [b, t], "i32")), 1, t - 1, t))
      );
      const next = argmaxRows(await last.data(), b, this.config.vocabSize);
      last.dispose();
      next.forEach((tok, i) => {
        seqs[i].push(done[i] ? options.eos : tok);
        if (tok === options.eos) done[i] = true;
      });
    }
    return seqs.map((s) => {
      const body = s.slice(start);
      const end = body.indexOf(options.eos);
      return end < 0 ? body : body.slice(0, end);
    });
  }
}
