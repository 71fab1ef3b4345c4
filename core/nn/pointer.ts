/**
 * A pointer-generator copy head (See et al., 2017): beside the vocabulary softmax, the decoder
 * points at positions of what it reads and copies their token ids. The answer distribution is
 *
 *   p(y) = p_gen · softmax(logits)[y] + (1 − p_gen) · Σ_j w_j · [id_j = y],
 *
 * with `w` a distribution over copy positions (each with a token id) and p_gen = σ(gen · h).
 * Training needs only p(target), which {@linkcode copyMixtureNll} reads off without building the
 * [B, T, V] mixture; generation needs the whole distribution, which
 * {@linkcode copyMixtureLogProbs} scatters into the vocabulary.
 *
 * @module
 */
import { Module } from "./module.ts";
import { Linear } from "./layers.ts";
import { MASKED } from "./attention.ts";
import { full, type Tensor, tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** What {@linkcode PointerHead.forward} returns. */
export interface PointerWeights {
  /** Attention of each decoder position over the memory positions [B, T, M] (rows sum to 1). */
  pointer: Tensor;
  /** Probability of generating from the vocabulary rather than copying [B, T, 1]. */
  pGen: Tensor;
}

/**
 * A sensible initial follow bonus: e³ ≈ 20 times the pointer weight for the position after the
 * token just read, so copying goes on along the memory from the first step (the plain scores
 * start within ±1) and training sets how strongly.
 */
export const FOLLOW_BONUS_INIT = 3;

/** Options of {@linkcode PointerHead.forward}. */
export interface PointerReadOptions {
  /** [B, M], 1 on real memory positions; the others get no weight. */
  padding?: Tensor;
  /** Added to the scores, broadcast to [B, T, M] (with gradient). */
  bias?: Tensor;
  /**
   * [B, T, M], 1 where memory position j follows (j − 1 holds) the token that decoder position t
   * reads ({@linkcode followsOf}); a head built with `follow` adds its learned bonus there.
   */
  follows?: Tensor;
}

/**
 * Single-head pointer attention from decoder states over a memory, and the generate/copy switch.
 * With `follow` (the bonus's initial value) the head also learns a bonus for the memory position
 * right after an occurrence of the token the decoder reads, so that a copied name goes on in
 * order, token after token (CopyNet's selective read, reduced to one learned scalar).
 */
export class PointerHead extends Module {
  /** Query projection of the decoder states. */
  readonly query: Linear;
  /** Key projection of the memory. */
  readonly key: Linear;
  /** The switch's logit from a decoder state. */
  readonly gen: Linear;
  /** The learned score bonus of a following position [1] (with `follow`). */
  readonly follow: Tensor | null;

  /** A head for width `dim`; `follow` adds the following-position bonus with that initial value. */
  constructor(readonly dim: number, seed?: number, follow?: number) {
    super();
    const at = (k: number) => (seed === undefined ? undefined : seed + k);
    this.query = this.child("query", new Linear(dim, dim, { seed: at(0) }));
    this.key = this.child("key", new Linear(dim, dim, { seed: at(2) }));
    this.gen = this.child("gen", new Linear(dim, 1, { seed: at(4) }));
    this.follow = follow === undefined ? null : this.param("follow", full([1], follow));
  }

  /** Pointer weights of decoder states h [B, T, D] over memory [B, M, D] (see the options). */
  forward(h: Tensor, memory: Tensor, options: PointerReadOptions = {}): PointerWeights {
    const [b, m] = memory.shape;
    let scores = ops.mul(
      ops.matmul(this.query.forward(h), this.key.forward(memory), { transB: true }),
      1 / Math.sqrt(this.dim),
    );
    if (options.bias) scores = ops.add(scores, options.bias);
    if (this.follow) {
      if (!options.follows) throw new Error("PointerHead: a head with `follow` needs follows");
      scores = ops.add(scores, ops.mul(options.follows, this.follow));
    }
    const padding = options.padding;
    const mask = padding ? ops.mul(ops.sub(padding, 1), -MASKED).reshape([b, 1, m]) : undefined;
    return { pointer: ops.softmax(scores, mask), pGen: ops.sigmoid(this.gen.forward(h)) };
  }
}

/**
 * [B, M] f32: the token id before each memory position of `memoryIds` [B, M] (i32 or f32), −1 at
 * position 0, which follows nothing. What {@linkcode followsPreceding} matches against; compute it
 * once per memory when many decoder steps read the same one.
 */
export function precedingIds(memoryIds: Tensor): Tensor {
  const [b, m] = memoryIds.shape;
  const ids = ops.cast(memoryIds, "f32");
  return m > 1 ? ops.concat([full([b, 1], -1), ops.slice(ids, 1, 0, m - 1)], 1) : full([b, 1], -1);
}

/**
 * [B, T, M] f32: 1 where `preceding` [B, M] ({@linkcode precedingIds}; −1 never matches) equals the
 * token decoder position t reads (`readIds` [B, T], i32 or f32, exact below 2²⁴).
 */
export function followsPreceding(readIds: Tensor, preceding: Tensor): Tensor {
  const [b, t] = readIds.shape;
  const m = preceding.shape[1];
  return ops.eq(ops.cast(readIds, "f32").reshape([b, t, 1]), preceding.reshape([b, 1, m]));
}

/**
 * [B, T, M] f32: 1 where the token before memory position j (`memoryIds` [B, M]) equals the
 * token decoder position t reads (`readIds` [B, T]); position 0 follows nothing.
 */
export function followsOf(readIds: Tensor, memoryIds: Tensor): Tensor {
  return followsPreceding(readIds, precedingIds(memoryIds));
}

/** The copy side of a mixture: weights [B, T, P] over copy positions whose token ids are [B, P]. */
export interface CopySource {
  /** Copy weights per decoder position [B, T, P] (each row sums to at most 1). */
  weights: Tensor;
  /** Token id at each copy position [B, P] (i32). */
  ids: Tensor;
}

/** 1 where `targets` [B, T] (i32) is a label, 0 where it is `ignoreIndex` (f32). */
export function labelMask(targets: Tensor, ignoreIndex = -100): Tensor {
  return ops.add(ops.neg(ops.eq(ops.cast(targets, "f32"), ignoreIndex)), 1);
}

/**
 * −log p(target) of the mixture over logits [B, T, V], pGen [B, T, 1] and `copy` at each position
 * [B, T]; 0 where the target is `ignoreIndex`.
 */
export function copyMixtureTokenNll(
  logits: Tensor,
  pGen: Tensor,
  copy: CopySource,
  targets: Tensor,
  ignoreIndex = -100,
): Tensor {
  const [b, t, v] = logits.shape;
  const p = copy.ids.shape[1];
  const vocabNll = ops.crossEntropy(logits.reshape([-1, v]), targets.reshape([-1]), {
    ignoreIndex,
    reduction: "none",
  });
  const vocabP = ops.exp(ops.neg(vocabNll)).reshape([b, t]);
  const target = ops.cast(targets, "f32");
  const match = ops.eq(ops.cast(copy.ids, "f32").reshape([b, 1, p]), target.reshape([b, t, 1]));
  const copyP = ops.sum(ops.mul(copy.weights, match), -1);
  const gen = pGen.reshape([b, t]);
  const prob = ops.add(ops.mul(gen, vocabP), ops.mul(ops.add(ops.neg(gen), 1), copyP));
  const nll = ops.neg(ops.log(ops.add(prob, 1e-9)));
  return ops.mul(nll, labelMask(targets, ignoreIndex));
}

/**
 * Mean −log p(target) of the mixture over logits [B, T, V], pGen [B, T, 1] and `copy`, over the
 * targets [B, T] (i32) that are not `ignoreIndex`. A scalar.
 */
export function copyMixtureNll(
  logits: Tensor,
  pGen: Tensor,
  copy: CopySource,
  targets: Tensor,
  ignoreIndex = -100,
): Tensor {
  const nll = copyMixtureTokenNll(logits, pGen, copy, targets, ignoreIndex);
  return ops.div(ops.sum(nll), ops.add(ops.sum(labelMask(targets, ignoreIndex)), 1e-9));
}

/**
 * log p over the whole vocabulary [B, T, V] of the mixture: the copy weights scattered onto
 * their ids (repeated ids add up). `copyIds` are the host values of `copy.ids`, row-major.
 */
export function copyMixtureLogProbs(
  logits: Tensor,
  pGen: Tensor,
  copy: CopySource,
  copyIds: ArrayLike<number>,
): Tensor {
  const [b, t, v] = logits.shape;
  const p = copy.ids.shape[1];
  const index = new Int32Array(b * t * p);
  for (let r = 0; r < b; r++) {
    for (let s = 0; s < t; s++) {
      for (let j = 0; j < p; j++) index[(r * t + s) * p + j] = (r * t + s) * v + copyIds[r * p + j];
    }
  }
  const scattered = ops.scatterRows(
    copy.weights.reshape([b * t * p, 1]),
    tensor(index, [b * t * p], "i32"),
    b * t * v,
  ).reshape([b, t, v]);
  const mixed = ops.add(
    ops.mul(pGen, ops.softmax(logits)),
    ops.mul(ops.add(ops.neg(pGen), 1), scattered),
  );
  return ops.log(ops.add(mixed, 1e-9));
}
