/**
 * The optimizer base: parameter groups, per-chunk flat state buffers, the step skeleton (global
 * gradient norm → fused update → step bookkeeping, all recorded without a sync), learning-rate
 * schedules, and state export/import for checkpoints.
 *
 * Gradient accumulation needs no support here: `backward()` adds into `.grad`, so run
 * `loss/N` backward on N micro-batches and call `step()` then `zeroGrad()` once.
 *
 * @module
 */
import { info } from "../device.ts";
import { keep } from "../scope.ts";
import { type Tensor, zeros } from "../tensor.ts";
import { readBuffer, writeBuffer } from "../../kernels/runtime.ts";
import { finishStep, type UpdateSlot } from "../../kernels/optim.wgsl.ts";
import { gradNorm } from "./clip.ts";
import { distinctGrads, type ParamGroup, type ResolvedGroup, resolveGroups } from "./params.ts";
import type { Schedule } from "./schedule.ts";

/** Settings every optimizer shares. */
export interface OptimizerOptions {
  /** Base learning rate (groups may override). */
  lr: number;
  /** Multiplies every group's lr at each step: `schedule(stepCalls)`; see `schedule.ts`. */
  schedule?: Schedule;
}

/** Options of {@linkcode Optimizer.step}. */
export interface StepOptions {
  /** A gradient norm already computed this step (what `clipGradNorm` returns); avoids a recount. */
  gradNorm?: Tensor;
}

/** Optimizer state on the host, parameters in {@linkcode Optimizer.parameters} order. */
export interface OptimizerSnapshot {
  /** "adamw" or "sgd". */
  kind: string;
  /** Updates applied (AdamW's bias-correction step t). */
  appliedSteps: number;
  /** Steps skipped by the non-finite guard. */
  skippedSteps: number;
  /** Calls of `step()` (the schedule's clock). */
  stepCalls: number;
  /** Learning rate and weight decay of each group. */
  groups: { lr: number; weightDecay: number }[];
  /** Per parameter: its state arrays by name (e.g. `m`, `v`, or `momentum`). */
  state: Record<string, Float32Array>[];
}

/** Parameters whose state shares one flat buffer (bounded by the storage binding size). */
interface Chunk {
  params: Tensor[];
  offsets: number[];
  state: Tensor | null;
}

/** Common machinery of the fused optimizers. */
export abstract class Optimizer {
  /** The parameter groups; a group's `lr` may be changed between steps. */
  readonly groups: ResolvedGroup[];
  /** Learning-rate multiplier as a function of the number of `step()` calls so far. */
  schedule: Schedule | undefined;
  #stepCalls = 0;
  #counters: Tensor;
  #chunks: Chunk[];
  #groupOf = new Map<Tensor, ResolvedGroup>();

  /** `stateNames` are interleaved per element in the flat state buffers. */
  protected constructor(
    params: Tensor[] | ParamGroup[],
    defaults: { lr: number; weightDecay: number; schedule?: Schedule },
    readonly kind: string,
    protected readonly stateNames: string[],
  ) {
    this.groups = resolveGroups(params, defaults);
    this.schedule = defaults.schedule;
    for (const g of this.groups) for (const p of g.params) this.#groupOf.set(p, g);
    this.#counters = keep(zeros([2], "i32"));
    this.#chunks = this.#layoutChunks();
  }

  #layoutChunks(): Chunk[] {
    const width = this.stateNames.length;
    const maxElements = width > 0
      ? Math.floor(info().maxStorageBufferBindingSize / 4 / width)
      : Infinity;
    const chunks: Chunk[] = [];
    let current: Chunk = { params: [], offsets: [], state: null };
    let used = 0;
    for (const p of this.parameters()) {
      if (p.size > maxElements) {
        throw new Error(`${p} is too large for one optimizer state binding on this adapter`);
      }
      if (used + p.size > maxElements) {
        chunks.push(current);
        current = { params: [], offsets: [], state: null };
        used = 0;
      }
      current.params.push(p);
      current.offsets.push(used);
      used += p.size;
    }
    chunks.push(current);
    for (const c of chunks) {
      const total = c.params.reduce((n, p) => n + p.size, 0);
      c.state = width > 0 ? keep(zeros([total * width])) : null;
    }
    return chunks;
  }

  /** Records the fused update of `slots` (all in one chunk, whose state buffer is given). */
  protected abstract update(
    slots: UpdateSlot[],
    state: GPUBuffer | null,
    norm: GPUBuffer,
    counters: GPUBuffer,
  ): void;

  /** All parameters, group by group. */
  parameters(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Number of `step()` calls so far (applied or skipped). */
  get stepCalls(): number {
    return this.#stepCalls;
  }

  /** The learning rate group `group` will use at the next step (its lr × the schedule). */
  currentLr(group = 0): number {
    return this.groups[group].lr * (this.schedule ? this.schedule(this.#stepCalls) : 1);
  }

  /** Sets the base learning rate of every group, or of one group. */
  setLr(lr: number, group?: number): void {
    if (!(lr >= 0)) throw new Error(`setLr: lr must be ≥ 0, got ${lr}`);
    const targets = group === undefined ? this.groups : [this.groups[group]];
    if (targets.some((g) => !g)) throw new Error(`setLr: no param group ${group}`);
    for (const g of targets) g.lr = lr;
  }

  /**
   * Updates every parameter that has a gradient, in a few dispatches and without a sync. When the
   * global gradient norm is not finite the update is skipped on the GPU: parameters and state stay
   * as they were, the gradients are zeroed and the skip is counted ({@linkcode skippedSteps}).
   */
  step(options: StepOptions = {}): void {
    const params = this.parameters();
    const given = options.gradNorm;
    if (given && (given.size !== 1 || given.dtype !== "f32")) {
      throw new Error(`step: gradNorm must be a one-element f32 tensor, got ${given}`);
    }
    const norm = given ?? gradNorm(params);
    distinctGrads(params);
    const multiplier = this.schedule ? this.schedule(this.#stepCalls) : 1;
    if (!(multiplier >= 0)) throw new Error(`schedule(${this.#stepCalls}) gave ${multiplier}`);
    for (const chunk of this.#chunks) {
      const slots: UpdateSlot[] = [];
      chunk.params.forEach((p, i) => {
        if (!p.grad) return;
        const group = this.#groupOf.get(p)!;
        slots.push({
          param: p.buffer,
          grad: p.grad.buffer,
          n: p.size,
          offset: chunk.offsets[i],
          lr: group.lr * multiplier,
          weightDecay: group.weightDecay,
        });
      });
      if (slots.length > 0) {
        this.update(slots, chunk.state?.buffer ?? null, norm.buffer, this.#counters.buffer);
      }
    }
    finishStep(norm.buffer, this.#counters.buffer);
    if (!given) norm.dispose();
    this.#stepCalls++;
  }

  /** Disposes every parameter's gradient (the next backward starts from zero). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  async #readCounters(): Promise<[number, number]> {
    const words = new Uint32Array(await readBuffer(this.#counters.buffer, 8));
    return [words[0], words[1]];
  }

  /** Steps skipped by the non-finite guard so far (one sync). */
  async skippedSteps(): Promise<number> {
    return (await this.#readCounters())[1];
  }

  /** Updates actually applied so far (one sync). */
  async appliedSteps(): Promise<number> {
    return (await this.#readCounters())[0];
  }

  /** Reads the whole state back to the host (for checkpoints). */
  async exportState(): Promise<OptimizerSnapshot> {
    const [appliedSteps, skippedSteps] = await this.#readCounters();
    const width = this.stateNames.length;
    const state: Record<string, Float32Array>[] = [];
    for (const chunk of this.#chunks) {
      const data = chunk.state
        ? new Float32Array(await readBuffer(chunk.state.buffer, chunk.state.byteLength))
        : new Float32Array(0);
      chunk.params.forEach((p, i) => {
        const entry: Record<string, Float32Array> = {};
        this.stateNames.forEach((name, j) => {
          const values = new Float32Array(p.size);
          const base = chunk.offsets[i] * width + j;
          for (let e = 0; e < p.size; e++) values[e] = data[base + e * width];
          entry[name] = values;
        });
        state.push(entry);
      });
    }
    return {
      kind: this.kind,
      appliedSteps,
      skippedSteps,
      stepCalls: this.#stepCalls,
      groups: this.groups.map((g) => ({ lr: g.lr, weightDecay: g.weightDecay })),
      state,
    };
  }

  /** Restores a snapshot taken from an optimizer of the same kind over parameters of the same sizes. */
  importState(snapshot: OptimizerSnapshot): void {
    if (snapshot.kind !== this.kind) {
      throw new Error(
        `importState: snapshot is for ${snapshot.kind}, this optimizer is ${this.kind}`,
      );
    }
    const params = this.parameters();
    if (snapshot.state.length !== params.length || snapshot.groups.length !== this.groups.length) {
      throw new Error(
        `importState: snapshot has ${snapshot.state.length} params in ${snapshot.groups.length} ` +
          `groups, this optimizer ${params.length} in ${this.groups.length}`,
      );
    }
    const width = this.stateNames.length;
    let index = 0;
    for (const chunk of this.#chunks) {
      const host = new Float32Array(chunk.state ? chunk.state.size : 0);
      chunk.params.forEach((p, i) => {
        const entry = snapshot.state[index++];
        this.stateNames.forEach((name, j) => {
          const values = entry[name];
          if (!values || values.length !== p.size) {
            throw new Error(
              `importState: state "${name}" of param ${index - 1} (${p}) has ` +
                `${values?.length ?? "no"} values, expected ${p.size}`,
            );
          }
          const base = chunk.offsets[i] * width + j;
          for (let e = 0; e < p.size; e++) host[base + e * width] = values[e];
        });
      });
      if (chunk.state && host.length > 0) writeBuffer(chunk.state.buffer, host);
    }
    writeBuffer(
      this.#counters.buffer,
      Uint32Array.of(snapshot.appliedSteps, snapshot.skippedSteps),
    );
    this.#stepCalls = snapshot.stepCalls;
    snapshot.groups.forEach((g, i) => {
      this.groups[i].lr = g.lr;
      this.groups[i].weightDecay = g.weightDecay;
    });
  }

  /** Releases the optimizer's GPU state (the parameters are untouched). */
  dispose(): void {
    for (const c of this.#chunks) c.state?.dispose();
    this.#counters.dispose();
  }
}
