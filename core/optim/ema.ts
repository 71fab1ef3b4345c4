/**
 * Exponential moving average of parameters (Polyak averaging): a shadow copy of the weights that
 * trails the trained ones, `s ← s + (1 − d)(p − s)`, usually a better model to evaluate and ship
 * than the last step's weights when data are small and the loss noisy. The decay warms up as
 * `min(decay, (1 + t) / (10 + t))` so early shadows are not dominated by the random init.
 *
 * @module
 */
import { Tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";
import { copyBuffer } from "../../kernels/runtime.ts";
import * as ops from "../ops/mod.ts";

/** Shadow weights of a list of parameters. */
export class WeightAverage {
  /** One shadow per parameter, same shapes. */
  readonly shadows: Tensor[];
  /** Updates applied so far. */
  updates = 0;

  /** Starts the shadows as copies of `params`; `decay` ∈ (0, 1) (e.g. 0.999). */
  constructor(readonly params: Tensor[], readonly decay: number) {
    if (!(decay > 0 && decay < 1)) {
      throw new Error(`WeightAverage: decay must lie in (0, 1), got ${decay}`);
    }
    this.shadows = params.map(copyOf);
  }

  /** The decay used by the next update. */
  get currentDecay(): number {
    return Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
  }

  /** Moves every shadow towards its parameter (GPU work only, no sync). */
  update(): void {
    const keep = 1 - this.currentDecay;
    noGrad(() =>
      tidy(() => {
        this.params.forEach((p, i) => {
          const s = this.shadows[i];
          const next = ops.add(s, ops.mul(ops.sub(p.detach(), s), keep));
          copyBuffer(next.buffer, s.buffer, s.byteLength);
        });
      })
    );
    this.updates++;
  }

  /** Exchanges the parameters' and the shadows' contents (call twice to undo). */
  swap(): void {
    noGrad(() =>
      tidy(() => {
        this.params.forEach((p, i) => {
          const s = this.shadows[i];
          const saved = copyOf(p);
          copyBuffer(s.buffer, p.buffer, p.byteLength);
          copyBuffer(saved.buffer, s.buffer, s.byteLength);
        });
      })
    );
  }

  /** Runs `fn` with the averaged weights in place, then puts the trained ones back. */
  async withAveraged<T>(fn: () => Promise<T>): Promise<T> {
    this.swap();
    try {
      return await fn();
    } finally {
      this.swap();
    }
  }

  /** Loads shadows saved earlier (same order and shapes as `params`) and the update count. */
  load(shadows: Tensor[], updates: number): void {
    if (shadows.length !== this.shadows.length) {
      throw new Error(
        `WeightAverage.load: ${shadows.length} tensors for ${this.shadows.length} shadows`,
      );
    }
    shadows.forEach((t, i) => {
      const s = this.shadows[i];
      if (t.size !== s.size) {
        throw new Error(
          `WeightAverage.load: tensor ${i} has shape [${t.shape}], want [${s.shape}]`,
        );
      }
      copyBuffer(t.buffer, s.buffer, s.byteLength);
    });
    this.updates = updates;
  }

  /** Frees the shadows. */
  dispose(): void {
    for (const s of this.shadows) s.dispose();
  }
}

/** A new tensor holding a copy of `t`'s contents (a buffer copy, no kernel). */
function copyOf(t: Tensor): Tensor {
  const copy = new Tensor(t.shape, t.dtype);
  copyBuffer(t.buffer, copy.buffer, t.byteLength);
  return copy;
}
