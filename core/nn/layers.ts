/**
 * Basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout and the MLP block.
 *
 * @module
 */
import { Module } from "./module.ts";
import { rand, randn } from "../random.ts";
import { full, type Tensor, tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** Seeds for parameter initialisation; a module built twice with the same seed is identical. */
export interface InitOptions {
  /** Seed of this layer's initialisation (default: the global stream). */
  seed?: number;
}

/** A module whose output is added to a {@linkcode Linear}'s (a LoRA adapter, see lora.ts). */
export interface LinearAdapter {
  /** The update for input x [..., in] → [..., out]. */
  forward(x: Tensor): Tensor;
}

/** y = x·Wᵀ + b, with W stored [out, in] as in PyTorch (so checkpoints interoperate). */
export class Linear extends Module {
  /** Weight [out, in]. */
  readonly weight: Tensor;
  /** Bias [out], when enabled. */
  readonly bias: Tensor | null;
  /** LoRA adapters attached to this layer, by name (see `LoRA.wrap`). */
  readonly adapters: Map<string, LinearAdapter> = new Map();
  /** The adapter added to the output, if any. */
  activeAdapter: string | null = null;

  /** Uniform(±1/√in) initialisation, as PyTorch's default. */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: InitOptions & { bias?: boolean } = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param(
      "weight",
      rand([outFeatures, inFeatures], { low: -bound, high: bound, seed: options.seed }),
    );
    this.bias = options.bias === false ? null : this.param(
      "bias",
      rand([outFeatures], {
        low: -bound,
        high: bound,
        seed: options.seed === undefined ? undefined : options.seed + 1,
      }),
    );
  }

  /** Applies the layer to x [..., in] → [..., out]. */
  forward(x: Tensor): Tensor {
    const y = ops.matmul(x, this.weight, { transB: true });
    const out = this.bias ? ops.add(y, this.bias) : y;
    const adapter = this.activeAdapter === null ? undefined : this.adapters.get(this.activeAdapter);
    return adapter ? ops.add(out, adapter.forward(x)) : out;
  }
}

/** A lookup table of `count` vectors of size `dim`. */
export class Embedding extends Module {
  /** Table [count, dim]. */
  readonly weight: Tensor;

  /** N(0, 1)·`std` initialisation, or a given matrix (`init`, row-major count×dim); `frozen` stops its gradient. */
  constructor(
    readonly count: number,
    readonly dim: number,
    options: InitOptions & { init?: Float32Array; frozen?: boolean; std?: number } = {},
  ) {
    super();
    if (options.init && options.init.length !== count * dim) {
      throw new Error(`Embedding init has ${options.init.length} values, expected ${count}×${dim}`);
    }
    this.weight = this.param(
      "weight",
      options.init
        ? tensor(options.init, [count, dim])
        : randn([count, dim], { std: options.std ?? 1, seed: options.seed }),
    );
    if (options.frozen) this.weight.requiresGrad = false;
  }

  /** Looks up i32 ids of any shape → [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    return ops.embedding(this.weight, ids);
  }
}

/** Layer normalisation over the last axis with learned scale and shift. */
export class LayerNorm extends Module {
  /** Scale [dim]. */
  readonly weight: Tensor;
  /** Shift [dim]. */
  readonly bias: Tensor;

  /** Scale 1, shift 0. */
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param("weight", full([dim], 1));
    this.bias = this.param("bias", full([dim], 0));
  }

  /** Normalises x [..., dim]. */
  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Root-mean-square normalisation over the last axis with a learned scale. */
export class RMSNorm extends Module {
  /** Scale [dim]. */
  readonly weight: Tensor;

  /** Scale 1. */
  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param("weight", full([dim], 1));
  }

  /** Normalises x [..., dim]. */
  forward(x: Tensor): Tensor {
    return ops.rmsNorm(x, this.weight, this.eps);
  }
}

/** Dropout with probability `p` in training mode; identity in eval mode. */
export class Dropout extends Module {
  /** A dropout layer. */
  constructor(readonly p: number) {
    super();
  }

  /** Drops elements of x at random (fresh mask each call). */
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? ops.dropout(x, this.p, { training: true }) : x;
  }
}

/** Activation of an {@linkcode MLP}. */
export type Activation = "gelu" | "silu" | "swiglu" | "relu";

/** Two-layer feed-forward block: down(act(up(x))), or down(silu(gate(x))·up(x)) for SwiGLU. */
export class MLP extends Module {
  /** Input projection. */
  readonly up: Linear;
  /** Gate projection (SwiGLU only). */
  readonly gate: Linear | null;
  /** Output projection. */
  readonly down: Linear;
  /** Dropout after the activation. */
  readonly dropout: Dropout;

  /** An MLP dim → hidden → dim. */
  constructor(
    dim: number,
    hidden: number,
    readonly activation: Activation = "gelu",
    options: InitOptions & { dropout?: number } = {},
  ) {
    super();
    const s = options.seed;
    this.up = this.child("up", new Linear(dim, hidden, { seed: s }));
    this.gate = activation === "swiglu"
      ? this.child("gate", new Linear(dim, hidden, { seed: s === undefined ? s : s + 7 }))
      : null;
    this.down = this.child("down", new Linear(hidden, dim, { seed: s === undefined ? s : s + 13 }));
    this.dropout = this.child("dropout", new Dropout(options.dropout ?? 0));
  }

  /** Applies the block to x [..., dim]. */
  forward(x: Tensor): Tensor {
    const u = this.up.forward(x);
    let h: Tensor;
    if (this.gate) h = ops.mul(ops.silu(this.gate.forward(x)), u);
    else if (this.activation === "silu") h = ops.silu(u);
    else if (this.activation === "relu") h = ops.relu(u);
    else h = ops.gelu(u);
    return this.down.forward(this.dropout.forward(h));
  }
}
