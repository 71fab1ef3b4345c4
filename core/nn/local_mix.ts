/**
 * Local token mixing: a width-(2r+1) convolution over the sequence written as shifted copies and
 * one Linear, added residually. It gives a small transformer trained from scratch the n-gram view
 * ("not good", "too salty") that recurrent and convolutional sentiment models start with.
 *
 * @module
 */
import { Module } from "./module.ts";
import { type InitOptions, Linear } from "./layers.ts";
import { type Tensor, zeros } from "../tensor.ts";
import * as ops from "../ops/mod.ts";

/** x [B, T, D] moved by `offset` along T: out[t] = x[t + offset], zeros beyond the ends. */
export function shiftTokens(x: Tensor, offset: number): Tensor {
  const [b, t, d] = x.shape;
  if (offset === 0) return x;
  const n = Math.min(Math.abs(offset), t);
  const fill = zeros([b, n, d]);
  if (n === t) return fill;
  return offset > 0
    ? ops.concat([ops.slice(x, 1, n, t), fill], 1)
    : ops.concat([fill, ops.slice(x, 1, 0, t - n)], 1);
}

/** x + GELU(W·[x(t−r) … x(t+r)] + b) over each token's window of 2r+1 neighbours. */
export class LocalMix extends Module {
  /** The window projection [(2r+1)·D → D]. */
  readonly proj: Linear;

  /** Mixing over `radius` neighbours on each side of every token. */
  constructor(readonly dim: number, readonly radius: number, options: InitOptions = {}) {
    super();
    if (!Number.isInteger(radius) || radius < 1) {
      throw new Error(`LocalMix: radius must be a positive integer, got ${radius}`);
    }
    this.proj = this.child("proj", new Linear((2 * radius + 1) * dim, dim, options));
  }

  /** x [B, T, D] with optional `padding` [B, T] (1 on real tokens; padding is not mixed in). */
  forward(x: Tensor, padding?: Tensor): Tensor {
    const [b, t] = x.shape;
    const source = padding ? ops.mul(x, padding.reshape([b, t, 1])) : x;
    const window: Tensor[] = [];
    for (let o = -this.radius; o <= this.radius; o++) window.push(shiftTokens(source, o));
    return ops.add(x, ops.gelu(this.proj.forward(ops.concat(window, 2))));
  }
}
