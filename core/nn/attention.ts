/**
 * Multi-head attention (self, cross, causal, key-padding masks) and the additive-mask builder.
 *
 * @module
 */
import { Module } from "./module.ts";
import { type InitOptions, Linear } from "./layers.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { keep } from "../scope.ts";
import * as ops from "../ops/mod.ts";

/** The large negative used for masked positions (finite, so fully masked rows stay NaN-free). */
export const MASKED: number = -1e9;

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
  /** A ready additive mask broadcastable to [B, H, T, S] (0 keeps, {@linkcode MASKED} hides). */
  mask?: Tensor;
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
  const parts = [padding, causal, masks.mask].filter((m) => m !== undefined);
  return parts.length ? parts.reduce((a, b) => ops.add(a, b)) : undefined;
}

/**
 * A query-position transform applied to q and k per head (e.g. rotary embeddings): `positions`
 * is the first position (every row alike) or per-row position ids [B, T] (i32).
 */
export type PositionTransform = (x: Tensor, positions: number | Tensor) => Tensor;

/**
 * Keys and values [B, H, S, headDim] of one attention block, kept between decoding steps.
 * A `fixed` slot (cross-attention over a memory that does not change) is filled on its first
 * call and reused; any other slot appends each call's keys and values.
 */
export interface KVSlot {
  /** Keys (positions already applied), or null before the first call. */
  keys: Tensor | null;
  /** Values, or null before the first call. */
  values: Tensor | null;
  /** True for a slot filled once from a fixed context. */
  readonly fixed: boolean;
}

/** Options of one attention call. */
export interface AttendOptions extends AttentionMasks {
  /** Keys and values come from here ([B, S, D]); x itself when omitted. */
  context?: Tensor;
  /** Position transform of q and k (rotary). */
  positions?: PositionTransform;
  /** Per-row position ids [B, T] of x's tokens (i32), instead of counting from the cache length. */
  positionIds?: Tensor;
  /**
   * Positions of the queries when x holds only some rows of `context` (the first position, or
   * per-row ids [B, T]); `positionIds` then places the keys. Default: as the keys.
   */
  queryPositions?: number | Tensor;
  /** Incremental decoding: earlier keys/values are read from and this call's written to here. */
  cache?: KVSlot;
}

function store(slot: KVSlot, keys: Tensor, values: Tensor): void {
  slot.keys?.dispose();
  slot.values?.dispose();
  slot.keys = keep(keys);
  slot.values = keep(values);
}

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

  /** [B, T, D] → [B, H, T, headDim]; with one position (a decoding step) a free reshape. */
  #split(x: Tensor): Tensor {
    const [b, t] = x.shape;
    if (t === 1) return x.reshape([b, this.heads, 1, this.headDim]);
    return ops.permute(x.reshape([b, t, this.heads, this.headDim]), [0, 2, 1, 3]);
  }

  /**
   * Keys and values [B, H, S, headDim] of this call: the fixed slot's once filled; otherwise
   * projected from `context` (rotated from position `past`) and, with a slot, appended to it.
   */
  #keysValues(context: Tensor, options: AttendOptions): { k: Tensor; v: Tensor } {
    const slot = options.cache;
    if (slot?.fixed && slot.keys && slot.values) return { k: slot.keys, v: slot.values };
    const past = slot && !slot.fixed ? slot.keys?.shape[2] ?? 0 : 0;
    let k = this.#split(this.k.forward(context));
    let v = this.#split(this.v.forward(context));
    if (options.positions) k = options.positions(k, options.positionIds ?? past);
    if (!slot) return { k, v };
    if (!slot.fixed && slot.keys && slot.values) {
      k = ops.concat([slot.keys, k], 2);
      v = ops.concat([slot.values, v], 2);
    }
    store(slot, k, v);
    return { k, v };
  }

  /**
   * Attends from x [B, T, D] to `context` [B, S, D] (x itself when omitted). Returns the output
   * [B, T, D] and the attention weights [B, H, T, S]. With a cache the keys are the cached ones
   * followed by this call's (or the fixed slot's, once filled); masks must then span them all.
   */
  attend(x: Tensor, options: AttendOptions = {}): { output: Tensor; weights: Tensor } {
    const [b, t] = x.shape;
    let q = this.#split(this.q.forward(x));
    const { k, v } = this.#keysValues(options.context ?? x, options);
    const s = k.shape[2];
    if (options.positions) {
      q = options.positions(q, options.queryPositions ?? options.positionIds ?? s - t);
    }
    // Scaling q rather than the scores costs a pass over [B, H, T, headDim] instead of [B, H, T, S].
    const scaled = ops.matmul(ops.mul(q, 1 / Math.sqrt(this.headDim)), k, { transB: true });
    const scores = options.bias ? ops.add(scaled, options.bias) : scaled;
    const weights = ops.softmax(scores, additiveMask(options, t, s));
    const heads = ops.matmul(weights, v);
    const merged = t === 1
      ? heads.reshape([b, 1, this.dim])
      : ops.permute(heads, [0, 2, 1, 3]).reshape([b, t, this.dim]);
    return { output: this.o.forward(merged), weights };
  }

  /** Attention output only; see {@linkcode attend}. */
  forward(x: Tensor, options: AttendOptions = {}): Tensor {
    return this.attend(x, options).output;
  }
}
