/**
 * Position information: learned tables, fixed sinusoidal tables, and rotary embeddings.
 *
 * @module
 */
import { Module } from "./module.ts";
import { keep } from "../scope.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { randn } from "../random.ts";
import * as ops from "../ops/mod.ts";

/** How a stack encodes positions. */
export type PositionKind = "learned" | "sinusoidal" | "rotary";

/** The sinusoidal table of "Attention Is All You Need": [maxLength, dim]. */
export function sinusoidalTable(maxLength: number, dim: number): Float32Array {
  const table = new Float32Array(maxLength * dim);
  for (let p = 0; p < maxLength; p++) {
    for (let i = 0; i < dim; i += 2) {
      const angle = p / 10000 ** (i / dim);
      table[p * dim + i] = Math.sin(angle);
      if (i + 1 < dim) table[p * dim + i + 1] = Math.cos(angle);
    }
  }
  return table;
}

/** Rows of `table` [N, C] at position ids [B, T] (i32), shaped `shape` (e.g. [B, T, C]). */
function rowsAt(table: Tensor, ids: Tensor, shape: readonly number[]): Tensor {
  return ops.gatherRows(table, ids.reshape([-1])).reshape(shape);
}

/** Adds a learned or sinusoidal position vector to each position of x [B, T, D]. */
export class AbsolutePositions extends Module {
  /** The table [maxLength, dim]; a parameter when learned. */
  readonly table: Tensor;

  /** A table for up to `maxLength` positions. */
  constructor(
    readonly kind: "learned" | "sinusoidal",
    readonly maxLength: number,
    dim: number,
    seed?: number,
  ) {
    super();
    this.table = kind === "learned"
      ? this.param("weight", randn([maxLength, dim], { std: 0.02, seed }))
      : keep(tensor(sinusoidalTable(maxLength, dim), [maxLength, dim]));
  }

  /** Frees the table (the constant sinusoidal one is not a parameter). */
  override dispose(): void {
    super.dispose();
    if (this.kind === "sinusoidal") this.table.dispose();
  }

  /**
   * x + table[offset : offset + T], or with per-row position ids [B, T] (i32) x + table[ids]
   * (ids are not range-checked on the host; an id ≥ maxLength reads a zero row).
   */
  forward(x: Tensor, offset: number | Tensor = 0): Tensor {
    const t = x.shape[1];
    if (typeof offset !== "number") return ops.add(x, rowsAt(this.table, offset, x.shape));
    if (offset + t > this.maxLength) {
      throw new Error(`sequence of ${offset + t} positions exceeds maxLength ${this.maxLength}`);
    }
    return ops.add(x, ops.slice(this.table, 0, offset, offset + t));
  }
}

/** Rotary position embedding (RoPE) applied to per-head queries and keys [B, H, T, headDim]. */
export class Rotary {
  readonly #cos: Tensor;
  readonly #sin: Tensor;
  #gathered: { ids: Tensor; cos: Tensor; sin: Tensor } | null = null;

  /** Tables for up to `maxLength` positions; `headDim` must be even. */
  constructor(readonly maxLength: number, readonly headDim: number, base = 10000) {
    if (headDim % 2) throw new Error(`rotary embeddings need an even head size, got ${headDim}`);
    const half = headDim / 2;
    const cos = new Float32Array(maxLength * headDim);
    const sin = new Float32Array(maxLength * headDim);
    for (let p = 0; p < maxLength; p++) {
      for (let i = 0; i < half; i++) {
        const angle = p / base ** ((2 * i) / headDim);
        for (const j of [i, i + half]) {
          cos[p * headDim + j] = Math.cos(angle);
          sin[p * headDim + j] = Math.sin(angle);
        }
      }
    }
    this.#cos = keep(tensor(cos, [maxLength, headDim]));
    this.#sin = keep(tensor(sin, [maxLength, headDim]));
  }

  /**
   * Rotates x [B, H, T, headDim] for positions offset … offset + T − 1, or for per-row position
   * ids [B, T] (i32; not range-checked on the host, an id ≥ maxLength reads zeros).
   */
  apply = (x: Tensor, offset: number | Tensor): Tensor => {
    const [b, , t] = x.shape;
    if (typeof offset === "number" && offset + t > this.maxLength) {
      throw new Error(
        `sequence of ${offset + t} positions exceeds rotary maxLength ${this.maxLength}`,
      );
    }
    const half = this.headDim / 2;
    const x1 = ops.slice(x, -1, 0, half);
    const x2 = ops.slice(x, -1, half, this.headDim);
    const rotated = ops.concat([ops.neg(x2), x1], -1);
    const [cos, sin] = typeof offset === "number"
      ? [ops.slice(this.#cos, 0, offset, offset + t), ops.slice(this.#sin, 0, offset, offset + t)]
      : this.#tablesAt(offset, [b, 1, t, this.headDim]);
    return ops.add(ops.mul(x, cos), ops.mul(rotated, sin));
  };

  /**
   * cos and sin rows at position ids, shaped `shape`. A decoding step applies the same ids to q
   * and k of every layer, so the last gather is reused while its ids and results are alive.
   */
  #tablesAt(ids: Tensor, shape: number[]): [Tensor, Tensor] {
    const g = this.#gathered;
    if (g && g.ids === ids && ![g.ids, g.cos, g.sin].some((t) => t.isDisposed)) {
      return [g.cos, g.sin];
    }
    const cos = rowsAt(this.#cos, ids, shape);
    const sin = rowsAt(this.#sin, ids, shape);
    this.#gathered = { ids, cos, sin };
    return [cos, sin];
  }

  /** Frees the tables. */
  dispose(): void {
    this.#cos.dispose();
    this.#sin.dispose();
  }
}
