/**
 * The Perceiver latent selector (learned latents cross-attending over a context) and the
 * Flamingo-style tanh gate.
 *
 * @module
 */
import { Module } from "./module.ts";
import { LayerNorm, MLP } from "./layers.ts";
import { MultiHeadAttention } from "./attention.ts";
import { randn } from "../random.ts";
import { full, type Tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** Options of {@linkcode PerceiverSelector}. */
export interface PerceiverOptions {
  /** Number of learned latent vectors. */
  latents: number;
  /** Number of cross-attention + MLP blocks. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Model width. */
  dim: number;
  /** Add latent self-attention in each block (default false). */
  selfAttention?: boolean;
  /** Initialisation seed. */
  seed?: number;
}

class PerceiverBlock extends Module {
  readonly normLatents: LayerNorm;
  readonly normContext: LayerNorm;
  readonly cross: MultiHeadAttention;
  readonly selfNorm: LayerNorm | null;
  readonly self: MultiHeadAttention | null;
  readonly normMlp: LayerNorm;
  readonly mlp: MLP;

  constructor(o: PerceiverOptions, seed?: number) {
    super();
    this.normLatents = this.child("norm_latents", new LayerNorm(o.dim));
    this.normContext = this.child("norm_context", new LayerNorm(o.dim));
    this.cross = this.child("cross_attn", new MultiHeadAttention(o.dim, o.heads, { seed }));
    this.selfNorm = o.selfAttention ? this.child("norm_self", new LayerNorm(o.dim)) : null;
    this.self = o.selfAttention
      ? this.child(
        "self_attn",
        new MultiHeadAttention(o.dim, o.heads, { seed: seed === undefined ? seed : seed + 1 }),
      )
      : null;
    this.normMlp = this.child("norm_mlp", new LayerNorm(o.dim));
    this.mlp = this.child(
      "mlp",
      new MLP(o.dim, 4 * o.dim, "gelu", { seed: seed === undefined ? seed : seed + 2 }),
    );
  }

  forward(
    latents: Tensor,
    context: Tensor,
    padding?: Tensor,
  ): { latents: Tensor; weights: Tensor } {
    const { output, weights } = this.cross.attend(this.normLatents.forward(latents), {
      context: this.normContext.forward(context),
      keyPadding: padding,
    });
    let h = ops.add(latents, output);
    if (this.self && this.selfNorm) h = ops.add(h, this.self.forward(this.selfNorm.forward(h)));
    return { latents: ops.add(h, this.mlp.forward(this.normMlp.forward(h))), weights };
  }
}

/**
 * `latents` learned vectors cross-attend over a context [B, S, D] (with its padding mask [B, S])
 * through `layers` blocks. Returns the latent states [B, L, D] and the last block's attention over
 * context tokens averaged over heads [B, L, S] (rows sum to 1; padding gets 0).
 */
export class PerceiverSelector extends Module {
  /** The learned latents [L, D]. */
  readonly latents: Tensor;
  readonly #blocks: PerceiverBlock[];

  /** A selector with the given sizes. */
  constructor(readonly options: PerceiverOptions) {
    super();
    this.latents = this.param(
      "latents",
      randn([options.latents, options.dim], { std: 0.02, seed: options.seed }),
    );
    this.#blocks = Array.from({ length: options.layers }, (_, i) =>
      this.child(
        `blocks.${i}`,
        new PerceiverBlock(
          options,
          options.seed === undefined ? undefined : options.seed + 10 * (i + 1),
        ),
      ));
  }

  /** Runs the latents over `context`; see the class description. */
  forward(context: Tensor, padding?: Tensor): { latents: Tensor; attn: Tensor } {
    const [b] = context.shape;
    const { latents: l, dim } = this.options;
    let h = ops.broadcastTo(this.latents.reshape([1, l, dim]), [b, l, dim]);
    let weights: Tensor | null = null;
    for (const block of this.#blocks) {
      ({ latents: h, weights } = block.forward(h, context, padding));
    }
    return { latents: h, attn: ops.mean(weights!, 1) };
  }
}

/** y = tanh(g)·x with the scalar g initialised to 0, so the gated path starts closed. */
export class TanhGate extends Module {
  /** The gate scalar [1]. */
  readonly gate: Tensor;

  /** A closed gate. */
  constructor() {
    super();
    this.gate = this.param("gate", full([1], 0));
  }

  /** Scales x by tanh(gate). */
  forward(x: Tensor): Tensor {
    return ops.mul(x, ops.tanh(this.gate));
  }
}
