/**
 * The key/value cache of incremental decoding: per layer the keys and values of every position
 * seen so far, plus the host-side bookkeeping (which positions are real, each row's next position)
 * from which one step's attention mask and position ids are built.
 *
 * Rows may hold padding (prompts of different lengths): a padded position is a key nobody attends
 * to and does not advance its row's position counter, so a row's tokens get the positions they
 * would have had alone.
 *
 * @module
 */
import { keep, tidy } from "../scope.ts";
import { type Tensor, tensor } from "../tensor.ts";
import * as ops from "../ops/mod.ts";
import { additiveMask, type KVSlot, MASKED } from "./attention.ts";

/** What one decoding step needs besides its inputs: positions and the attention mask. */
export interface CacheStep {
  /** Position ids [B, T] (i32) of the step's new positions. */
  positions: Tensor;
  /** Additive mask [B, 1, T, S] over all keys so far (causal and padding). */
  mask: Tensor;
  /** One past the largest position id of the step (for length checks). */
  end: number;
}

/** A fixed context every row attends to (an encoder's memory), with its key padding. */
export interface CacheContext {
  /** Context states [B₀, S, D]; row r of the cache reads row ⌊r / (rows / B₀)⌋. */
  states: Tensor;
  /** Key padding [B₀, S] (1 real, 0 padding). */
  padding?: Tensor;
}

/**
 * Rows of x [B, …] each repeated `k` times in place: row r of the result is row ⌊r / k⌋ of x
 * (one gather).
 */
export function repeatRows(x: Tensor, k: number): Tensor {
  if (k === 1) return x.reshape(x.shape);
  const b = x.shape[0];
  const index = tensor(Array.from({ length: b * k }, (_, r) => Math.floor(r / k)), [b * k], "i32");
  return ops.gatherRows(x.reshape([b, -1]), index).reshape([b * k, ...x.shape.slice(1)]);
}

function emptySlot(fixed: boolean): KVSlot {
  return { keys: null, values: null, fixed };
}

/** The cache of one generation batch of `rows` rows through a stack of `layers` layers. */
export class KVCache {
  /** Self-attention slots, one per layer. */
  readonly self: KVSlot[];
  /** Cross-attention slots (fixed), one per layer when a context is given. */
  readonly cross: KVSlot[];
  /** The context repeated to `rows` rows, or null. */
  readonly context: Tensor | null;
  /** Additive key-padding mask [rows, 1, 1, S] of the context, or null. */
  readonly contextMask: Tensor | null;
  #valid: number[][];
  #next: number[];
  #pending: Tensor | null = null;

  /**
   * An empty cache. With a context (an encoder's memory of B₀ rows, `rows` a multiple of B₀)
   * it also holds that memory repeated to `rows` rows and one fixed cross slot per layer.
   */
  constructor(readonly rows: number, layers: number, context?: CacheContext) {
    this.self = Array.from({ length: layers }, () => emptySlot(false));
    this.#valid = Array.from({ length: rows }, () => []);
    this.#next = new Array(rows).fill(0);
    if (!context) {
      this.cross = [];
      this.context = null;
      this.contextMask = null;
      return;
    }
    const b = context.states.shape[0];
    if (rows % b !== 0) {
      throw new Error(`KVCache: ${rows} rows are not a multiple of the context's ${b} rows`);
    }
    this.cross = Array.from({ length: layers }, () => emptySlot(true));
    const s = context.states.shape[1];
    const padding = context.padding;
    [this.context, this.contextMask] = tidy(() => [
      keep(repeatRows(context.states, rows / b)),
      padding ? keep(additiveMask({ keyPadding: repeatRows(padding, rows / b) }, 1, s)!) : null,
    ]);
  }

  /** Positions cached so far (padding included). */
  get length(): number {
    return this.#valid[0]?.length ?? 0;
  }

  /**
   * Registers T new positions per row and returns their position ids and the mask over all keys:
   * new position t of row r sees the real keys up to and including itself. `valid[r][t]` false
   * marks padding (all real when omitted). Position ids count each row's real tokens on from the
   * last one, unless `positions[r][t]` gives them; padding takes no position of its own.
   */
  advance(
    t: number,
    valid?: readonly (readonly boolean[])[],
    positions?: readonly (readonly number[])[],
  ): CacheStep {
    for (const [name, rows] of [["valid", valid], ["positions", positions]] as const) {
      if (rows && (rows.length !== this.rows || rows.some((v) => v.length !== t))) {
        throw new Error(`KVCache.advance: ${name} must be [${this.rows}][${t}]`);
      }
    }
    const past = this.length;
    const s = past + t;
    const mask = new Float32Array(this.rows * t * s).fill(MASKED);
    const ids = new Int32Array(this.rows * t);
    let end = 0;
    for (let r = 0; r < this.rows; r++) {
      const keys = this.#valid[r];
      for (let i = 0; i < t; i++) {
        const real = valid ? valid[r][i] : true;
        const at = positions ? positions[r][i] : this.#next[r];
        ids[r * t + i] = at;
        if (real) {
          this.#next[r] = at + 1;
          end = Math.max(end, at + 1);
        }
        keys.push(real ? 1 : 0);
      }
      for (let i = 0; i < t; i++) {
        for (let j = 0; j <= past + i; j++) if (keys[j]) mask[(r * t + i) * s + j] = 0;
      }
    }
    const step = {
      positions: tensor(ids, [this.rows, t], "i32"),
      mask: tensor(mask, [this.rows, 1, t, s]),
      end,
    };
    this.#gatherPending();
    return step;
  }

  /**
   * Reorders rows: row r becomes old row `index[r]` (beam search). Only self-attention slots
   * move: `index` must map each row to a row of the same context row (the same source item),
   * whose fixed cross slots are identical. The gathers are recorded by the next
   * {@linkcode advance}, after its uploads, so that a decoding step stays one submit.
   */
  reorder(index: readonly number[]): void {
    if (index.length !== this.rows) {
      throw new Error(`KVCache.reorder: ${index.length} indices for ${this.rows} rows`);
    }
    if (index.some((i) => !Number.isInteger(i) || i < 0 || i >= this.rows)) {
      throw new Error(`KVCache.reorder: an index lies outside 0…${this.rows - 1}`);
    }
    this.#gatherPending();
    this.#valid = index.map((i) => [...this.#valid[i]]);
    this.#next = index.map((i) => this.#next[i]);
    this.#pending = keep(tensor(index as number[], [this.rows], "i32"));
  }

  /** Moves the slots' rows by the pending reorder, if any. */
  #gatherPending(): void {
    const ids = this.#pending;
    if (!ids) return;
    this.#pending = null;
    tidy(() => {
      for (const slot of this.self) {
        if (!slot.keys || !slot.values) continue;
        const shape = slot.keys.shape;
        const gather = (x: Tensor) =>
          keep(ops.gatherRows(x.reshape([this.rows, -1]), ids).reshape(shape));
        const [keys, values] = [gather(slot.keys), gather(slot.values)];
        slot.keys.dispose();
        slot.values.dispose();
        slot.keys = keys;
        slot.values = values;
      }
    });
    ids.dispose();
  }

  /** Frees every cached tensor. */
  dispose(): void {
    for (const slot of [...this.self, ...this.cross]) {
      slot.keys?.dispose();
      slot.values?.dispose();
      slot.keys = slot.values = null;
    }
    this.context?.dispose();
    this.contextMask?.dispose();
    this.#pending?.dispose();
    this.#pending = null;
  }
}
