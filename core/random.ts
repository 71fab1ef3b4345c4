/**
 * Seeded random tensors. A seed gives the same numbers on every adapter because they are drawn on
 * the host (mulberry32 + Box–Muller) and uploaded.
 *
 * @module
 */
import { type DType, sizeOf, type Tensor, tensor } from "./tensor.ts";

/** A small deterministic PRNG (mulberry32) returning floats in [0, 1). */
export class Rng {
  #state: number;
  /** Starts the stream at `seed`. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Next float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Next standard normal sample. */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Next integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

let global = new Rng(0x5eed);

/** Reseeds the generator used when no seed is passed. */
export function manualSeed(seed: number): void {
  global = new Rng(seed);
}

/** A 32-bit seed drawn from the global stream, for generators that run on the GPU (dropout). */
export function nextSeed(): number {
  return Math.floor(global.next() * 4294967296) >>> 0;
}

/** Options for random tensors. */
export interface RandomOptions {
  /** Seed for this tensor alone; without it the global stream ({@linkcode manualSeed}) is used. */
  seed?: number;
  /** Element type (default f32). */
  dtype?: DType;
}

/** Normal samples with the given mean and standard deviation. */
export function randn(
  shape: readonly number[],
  options: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const rng = options.seed === undefined ? global : new Rng(options.seed);
  const { mean = 0, std = 1 } = options;
  const values = new Float32Array(sizeOf(shape));
  for (let i = 0; i < values.length; i++) values[i] = mean + std * rng.normal();
  return tensor(values, shape, options.dtype ?? "f32");
}

/** Uniform samples in [low, high). */
export function rand(
  shape: readonly number[],
  options: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const rng = options.seed === undefined ? global : new Rng(options.seed);
  const { low = 0, high = 1 } = options;
  const values = new Float32Array(sizeOf(shape));
  for (let i = 0; i < values.length; i++) values[i] = low + (high - low) * rng.next();
  return tensor(values, shape, options.dtype ?? "f32");
}
