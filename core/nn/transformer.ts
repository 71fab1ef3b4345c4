/**
 * Pre-norm transformer layers: the encoder layer (self-attention + MLP) and the decoder layer
 * (causal self-attention + cross-attention + MLP).
 *
 * @module
 */
import { Module } from "./module.ts";
import { type Activation, Dropout, LayerNorm, MLP } from "./layers.ts";
import {
  type AttendOptions,
  type KVSlot,
  MultiHeadAttention,
  type PositionTransform,
} from "./attention.ts";
import type { Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** Sizes shared by the layers of a stack. */
export interface LayerConfig {
  /** Model width. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** MLP hidden width (default 4·dim). */
  hidden?: number;
  /** MLP activation (default gelu). */
  activation?: Activation;
  /** Dropout on residual branches (default 0). */
  dropout?: number;
  /** Initialisation seed. */
  seed?: number;
}

/** x + drop(attn(norm(x))); x + drop(mlp(norm(x))). */
export class TransformerEncoderLayer extends Module {
  /** Norm before attention. */
  readonly norm1: LayerNorm;
  /** Self-attention. */
  readonly attn: MultiHeadAttention;
  /** Norm before the MLP. */
  readonly norm2: LayerNorm;
  /** Feed-forward block. */
  readonly mlp: MLP;
  /** Residual dropout. */
  readonly drop: Dropout;

  /** One encoder layer. */
  constructor(c: LayerConfig) {
    super();
    this.norm1 = this.child("norm1", new LayerNorm(c.dim));
    this.attn = this.child("attn", new MultiHeadAttention(c.dim, c.heads, { seed: c.seed }));
    this.norm2 = this.child("norm2", new LayerNorm(c.dim));
    this.mlp = this.child(
      "mlp",
      new MLP(c.dim, c.hidden ?? 4 * c.dim, c.activation ?? "gelu", {
        seed: c.seed === undefined ? undefined : c.seed + 5,
      }),
    );
    this.drop = this.child("drop", new Dropout(c.dropout ?? 0));
  }

  /**
   * x [B, T, D] → [B, T, D]; `causal` makes it a decoder-only block, a `cache` slot (with the
   * step's `mask` and `positionIds`) an incremental one.
   */
  forward(x: Tensor, masks: Omit<AttendOptions, "context"> = {}): Tensor {
    const h = ops.add(x, this.drop.forward(this.attn.forward(this.norm1.forward(x), masks)));
    return ops.add(h, this.drop.forward(this.mlp.forward(this.norm2.forward(h))));
  }

  /**
   * The rows `start…end − 1` of {@linkcode forward} alone, [B, end − start, D]: keys and values
   * from every row of x, but queries, attention output, MLP and residuals for those rows only
   * (for a last layer whose other rows nobody reads). Causal masking needs the rows at the end.
   */
  forwardRows(
    x: Tensor,
    start: number,
    end: number,
    masks: Omit<AttendOptions, "context" | "cache" | "queryPositions"> = {},
  ): Tensor {
    const t = x.shape[1];
    if (!(0 <= start && start < end && end <= t)) {
      throw new Error(`forwardRows: rows ${start}…${end} of a sequence of ${t}`);
    }
    if (masks.causal && end !== t) {
      throw new Error(`forwardRows: causal rows must end the sequence (${end} of ${t})`);
    }
    const normed = this.norm1.forward(x);
    const bias = masks.bias && masks.bias.shape.at(-2) === t
      ? ops.slice(masks.bias, masks.bias.rank - 2, start, end)
      : masks.bias;
    const attended = this.attn.forward(ops.slice(normed, 1, start, end), {
      ...masks,
      bias,
      context: normed,
      queryPositions: masks.positionIds ? ops.slice(masks.positionIds, 1, start, end) : start,
    });
    const h = ops.add(ops.slice(x, 1, start, end), this.drop.forward(attended));
    return ops.add(h, this.drop.forward(this.mlp.forward(this.norm2.forward(h))));
  }
}

/** One decoding step's state for a {@linkcode TransformerDecoderLayer}. */
export interface DecoderLayerCache {
  /** The self-attention slot. */
  self: KVSlot;
  /** The (fixed) cross-attention slot. */
  cross: KVSlot;
  /** Additive self-attention mask [B, 1, T, S] over all cached positions. */
  mask: Tensor;
  /** Position ids [B, T] (i32) of the step's positions. */
  positionIds: Tensor;
  /** Additive mask [B, 1, 1, S] over the memory's padding. */
  memoryMask?: Tensor;
}

/** Causal self-attention, cross-attention over a memory, and an MLP, each pre-normed with a residual. */
export class TransformerDecoderLayer extends Module {
  /** Norm before self-attention. */
  readonly norm1: LayerNorm;
  /** Causal self-attention. */
  readonly selfAttn: MultiHeadAttention;
  /** Norm before cross-attention. */
  readonly norm2: LayerNorm;
  /** Cross-attention to the memory. */
  readonly crossAttn: MultiHeadAttention;
  /** Norm before the MLP. */
  readonly norm3: LayerNorm;
  /** Feed-forward block. */
  readonly mlp: MLP;
  /** Residual dropout. */
  readonly drop: Dropout;

  /** One decoder layer. */
  constructor(c: LayerConfig) {
    super();
    const s = c.seed;
    this.norm1 = this.child("norm1", new LayerNorm(c.dim));
    this.selfAttn = this.child("self_attn", new MultiHeadAttention(c.dim, c.heads, { seed: s }));
    this.norm2 = this.child("norm2", new LayerNorm(c.dim));
    this.crossAttn = this.child(
      "cross_attn",
      new MultiHeadAttention(c.dim, c.heads, { seed: s === undefined ? s : s + 3 }),
    );
    this.norm3 = this.child("norm3", new LayerNorm(c.dim));
    this.mlp = this.child(
      "mlp",
      new MLP(c.dim, c.hidden ?? 4 * c.dim, c.activation ?? "gelu", {
        seed: s === undefined ? s : s + 5,
      }),
    );
    this.drop = this.child("drop", new Dropout(c.dropout ?? 0));
  }

  /**
   * x [B, T, D] attends causally to itself (with `keyPadding` over x) and to memory [B, S, D];
   * with `cached`, incrementally (its masks replace `keyPadding` and `memoryPadding`).
   */
  forward(
    x: Tensor,
    memory: Tensor,
    masks: {
      keyPadding?: Tensor;
      memoryPadding?: Tensor;
      positions?: PositionTransform;
      cached?: DecoderLayerCache;
    } = {},
  ): Tensor {
    const c = masks.cached;
    const self: AttendOptions = c
      ? { mask: c.mask, positionIds: c.positionIds, cache: c.self }
      : { causal: true, keyPadding: masks.keyPadding };
    let h = ops.add(
      x,
      this.drop.forward(
        this.selfAttn.forward(this.norm1.forward(x), { ...self, positions: masks.positions }),
      ),
    );
    const cross: AttendOptions = c
      ? { context: memory, mask: c.memoryMask, cache: c.cross }
      : { context: memory, keyPadding: masks.memoryPadding };
    h = ops.add(h, this.drop.forward(this.crossAttn.forward(this.norm2.forward(h), cross)));
    return ops.add(h, this.drop.forward(this.mlp.forward(this.norm3.forward(h))));
  }
}
