/**
 * Multi-head attention (self, cross, causal, key-padding masks) and the additive-mask builder.
 *
 * @module
 */
import { Module } from "./module.ts";
import { type InitOptions, Linear } from "./layers.ts";
import { type Tensor, tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** The large negative used for masked positions (finite, so fully masked rows stay NaN-free). */
export const MASKED = -1e9;

/** Masks of one attention call. */
export interface AttentionMasks {
  /** [B, S] f32, 1 for real key tokens and 0 for padding. */
  keyPadding?: Tensor;
  /** Query t may attend only to keys s ≤ t + (S − T). */
  causal?: boolean;
  /**
   * Score bias broadcastable to [B, H, T, S], added before the masks (e.g. a learned position
   * bias; unlike the masks it receives a gradient).
   */
  bias?: Tensor;
}

/** Additive mask [T, S] with 0 on and below the (right-aligned) diagonal and {@linkcode MASKED} above it. */
export function causalMask(t: number, s: number): Tensor {
  const values = new Float32Array(t * s);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < s; j++) values[i * s + j] = j > i + (s - t) ? MASKED : 0;
  }
  return tensor(values, [t, s]);
}

/** Builds the additive mask broadcastable to scores [B, H, T, S], or undefined when unmasked. */
export function additiveMask(masks: AttentionMasks, t: number, s: number): Tensor | undefined {
  const padding = masks.keyPadding
    ? ops.mul(ops.sub(masks.keyPadding, 1), -MASKED).reshape([masks.keyPadding.shape[0], 1, 1, s])
    : undefined;
  const causal = masks.causal ? causalMask(t, s) : undefined;
  if (padding && causal) return ops.add(padding, causal);
  return padding ?? causal;
}

/** A query-position transform applied to q and k per head (e.g. rotary embeddings). */
export type PositionTransform = (x: Tensor, offset: number) => Tensor;

/** Multi-head scaled dot-product attention with q/k/v/o projections. */
export class MultiHeadAttention extends Module {
  /** Query projection. */
  readonly q: Linear;
  /** Key projection. */
  readonly k: Linear;
  /** Value projection. */
  readonly v: Linear;
  /** Output projection. */
  readonly o: Linear;
  /** Size of one head. */
  readonly headDim: number;

  /** `dim` must divide by `heads`. */
  constructor(readonly dim: number, readonly heads: number, options: InitOptions = {}) {
    super();
    if (dim % heads !== 0) {
      throw new Error(`attention dim ${dim} is not divisible by ${heads} heads`);
    }
    this.headDim = dim / heads;
    const s = options.seed;
    const at = (k: number) => (s === undefined ? undefined : s + 101 * k);
    this.q = this.child("q", new Linear(dim, dim, { seed: at(1) }));
    this.k = this.child("k", new Linear(dim, dim, { seed: at(2) }));
    this.v = this.child("v", new Linear(dim, dim, { seed: at(3) }));
    this.o = this.child("o", new Linear(dim, dim, { seed: at(4) }));
  }

  #split(x: Tensor): Tensor {
    const [b, t] = x.shape;
    return ops.permute(x.reshape([b, t, this.heads, this.headDim]), [0, 2, 1, 3]);
  }

  /**
   * Attends from x [B, T, D] to `context` [B, S, D] (x itself when omitted). Returns the output
   * [B, T, D] and the attention weights [B, H, T, S].
   */
  attend(
    x: Tensor,
    options: AttentionMasks & { context?: Tensor; positions?: PositionTransform } = {},
  ): { output: Tensor; weights: Tensor } {
    const context = options.context ?? x;
    const [b, t] = x.shape;
    const s = context.shape[1];
    let q = this.#split(this.q.forward(x));
    let k = this.#split(this.k.forward(context));
    const v = this.#split(this.v.forward(context));
    if (options.positions) {
      q = options.positions(q, s - t);
      k = options.positions(k, 0);
    }
    const scaled = ops.mul(ops.matmul(q, k, { transB: true }), 1 / Math.sqrt(this.headDim));
    const scores = options.bias ? ops.add(scaled, options.bias) : scaled;
    const weights = ops.softmax(scores, additiveMask(options, t, s));
    const heads = ops.matmul(weights, v);
    const merged = ops.permute(heads, [0, 2, 1, 3]).reshape([b, t, this.dim]);
    return { output: this.o.forward(merged), weights };
  }

  /** Attention output only; see {@linkcode attend}. */
  forward(
    x: Tensor,
    options: AttentionMasks & { context?: Tensor; positions?: PositionTransform } = {},
  ): Tensor {
    return this.attend(x, options).output;
  }
}
