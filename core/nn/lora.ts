/**
 * LoRA adapters: low-rank updates B·A·(α/r) beside frozen Linear weights, several named adapters
 * per backbone, switchable, savable alone, and mergeable into the base.
 *
 * @module
 */
import { Module } from "./module.ts";
import { Dropout, Linear } from "./layers.ts";
import { rand } from "../random.ts";
import { full, type Tensor } from "../tensor.ts";
import { noGrad } from "../autograd.ts";
import { tidy } from "../scope.ts";
import { copyBuffer } from "../../kernels/runtime.ts";
import * as ops from "../ops/mod.ts";

/** Options of {@linkcode LoRA.wrap}. */
export interface LoRAOptions {
  /** Rank r of the update. */
  rank: number;
  /** Scale numerator α (the update is scaled by α/r; default 2r). */
  alpha?: number;
  /** Dropout on the adapter's input (default 0). */
  dropout?: number;
  /** Which Linear layers: last-name matches (e.g. ["q", "v"]), a RegExp on the dotted name, or "all". */
  targets?: string[] | RegExp | "all";
  /** Adapter name (default "default"); several may live on one backbone. */
  name?: string;
  /** Initialisation seed of A. */
  seed?: number;
}

/** One low-rank adapter: A [r, in] random, B [out, r] zero. */
export class LoRAAdapter extends Module {
  /** Down projection [r, in]. */
  readonly a: Tensor;
  /** Up projection [out, r], zero at init so the wrapped model starts unchanged. */
  readonly b: Tensor;
  /** Input dropout. */
  readonly dropout: Dropout;

  /** An adapter for a Linear of `inFeatures` → `outFeatures`. */
  constructor(
    inFeatures: number,
    outFeatures: number,
    readonly rank: number,
    readonly scale: number,
    dropout = 0,
    seed?: number,
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.a = this.param("A", rand([rank, inFeatures], { low: -bound, high: bound, seed }));
    this.b = this.param("B", full([outFeatures, rank], 0));
    this.dropout = this.child("dropout", new Dropout(dropout));
  }

  /** The update (α/r)·x·Aᵀ·Bᵀ for x [..., in]. */
  forward(x: Tensor): Tensor {
    const h = ops.matmul(this.dropout.forward(x), this.a, { transB: true });
    return ops.mul(ops.matmul(h, this.b, { transB: true }), this.scale);
  }
}

function matches(name: string, targets: LoRAOptions["targets"]): boolean {
  if (targets === undefined || targets === "all") return true;
  if (targets instanceof RegExp) return targets.test(name);
  return targets.includes(name.split(".").at(-1)!);
}

function linearsOf(module: Module, prefix = ""): [string, Linear][] {
  const out: [string, Linear][] = [];
  for (const [n, m] of module.children()) {
    const path = prefix + n;
    if (m instanceof Linear) out.push([path, m]);
    else out.push(...linearsOf(m, path + "."));
  }
  return out;
}

/** LoRA entry points (static). */
export class LoRA {
  /**
   * Attaches an adapter named `options.name` to every targeted Linear of `module`, freezes every
   * non-adapter parameter (all adapters stay trainable), and activates the new adapter. Returns
   * the wrapped layers' names.
   */
  static wrap(module: Module, options: LoRAOptions): string[] {
    const name = options.name ?? "default";
    const alpha = options.alpha ?? 2 * options.rank;
    const targets = linearsOf(module).filter(([path]) => matches(path, options.targets));
    if (targets.length === 0) {
      throw new Error(`LoRA.wrap: no Linear layer matches ${String(options.targets)}`);
    }
    targets.forEach(([, linear], i) => {
      const adapter = new LoRAAdapter(
        linear.inFeatures,
        linear.outFeatures,
        options.rank,
        alpha / options.rank,
        options.dropout ?? 0,
        options.seed === undefined ? undefined : options.seed + i,
      );
      linear.child(`lora_${name}`, adapter);
      linear.adapters.set(name, adapter);
      linear.activeAdapter = name;
    });
    module.freeze(/.*/);
    module.unfreeze(/\.lora_/);
    return targets.map(([p]) => p);
  }

  /** Makes adapter `name` the active one on every layer that has it (null: the bare base). */
  static use(module: Module, name: string | null): void {
    for (const [, linear] of linearsOf(module)) {
      if (name === null || linear.adapters.has(name)) linear.activeAdapter = name;
    }
  }

  /** The parameters of adapter `name` alone, by dotted name (for saving adapters without the base). */
  static state(module: Module, name = "default"): Record<string, Tensor> {
    return Object.fromEntries(
      module.namedParameters().filter(([n]) => n.includes(`.lora_${name}.`)),
    );
  }

  /**
   * Copies adapter `from`'s A and B into adapter `to` on every Linear of `module` that has both
   * (same rank required); returns how many layers were copied.
   */
  static copy(module: Module, from: string, to: string): number {
    let copied = 0;
    for (const [path, linear] of linearsOf(module)) {
      const src = linear.adapters.get(from), dst = linear.adapters.get(to);
      if (!(src instanceof LoRAAdapter) || !(dst instanceof LoRAAdapter)) continue;
      if (src.rank !== dst.rank || src.scale !== dst.scale) {
        throw new Error(
          `LoRA.copy: ${path}: adapter "${from}" has rank ${src.rank} (scale ${src.scale}), "${to}" rank ${dst.rank} (scale ${dst.scale})`,
        );
      }
      copyBuffer(src.a.buffer, dst.a.buffer, src.a.byteLength);
      copyBuffer(src.b.buffer, dst.b.buffer, src.b.byteLength);
      copied++;
    }
    return copied;
  }

  /** Adds (α/r)·B·A of adapter `name` into each base weight and detaches the adapter. */
  static merge(module: Module, name = "default"): void {
    for (const [, linear] of linearsOf(module)) {
      const adapter = linear.adapters.get(name);
      if (!(adapter instanceof LoRAAdapter)) continue;
      noGrad(() =>
        tidy(() => {
          const delta = ops.mul(ops.matmul(adapter.b, adapter.a), adapter.scale);
          const merged = ops.add(linear.weight, delta);
          copyBuffer(merged.buffer, linear.weight.buffer, linear.weight.byteLength);
        })
      );
      linear.adapters.delete(name);
      linear.removeChild(`lora_${name}`);
      adapter.dispose();
      if (linear.activeAdapter === name) linear.activeAdapter = null;
    }
  }
}
