/**
 * The module base: named parameters and children, state dicts, train/eval, freezing by name.
 *
 * @module
 */
import { keep } from "../scope.ts";
import type { Tensor } from "../tensor.ts";
import { copyBuffer } from "../../kernels/runtime.ts";

/** A building block that owns parameters and child modules, addressed by dotted names. */
export abstract class Module {
  /** False in eval mode (dropout off). */
  training = true;
  #params = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /** Registers a trainable parameter under `name`; it is kept outside tidy scopes. */
  protected param(name: string, value: Tensor): Tensor {
    this.#params.set(name, keep(value).requireGrad());
    return value;
  }

  /** Registers (or replaces) a child module under `name`. */
  child<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  /** Removes the child registered under `name` (its parameters are not disposed). */
  removeChild(name: string): void {
    this.#children.delete(name);
  }

  /** The direct children, by name. */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /** Every parameter with its dotted name, e.g. `layers.0.attn.q.weight`. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, m] of this.#children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Parameters that currently require gradients (what an optimizer should update). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p).filter((p) => p.requiresGrad);
  }

  /** All parameters by name (views of the live tensors; do not dispose them). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copies values into the parameters. With `strict` (default), missing, unexpected and
   * shape-mismatched keys are all listed in one error and nothing is copied; parameters named by
   * `mayLack` may be missing even then (a part added to a trained model keeps its fresh values).
   */
  loadStateDict(state: Record<string, Tensor>, strict = true, mayLack?: RegExp): void {
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !(k in state) && !mayLack?.test(k));
    const unexpected = Object.keys(state).filter((k) => !own.has(k));
    const mismatched = Object.keys(state).filter((k) => {
      const p = own.get(k);
      return p && (p.shape.join() !== state[k].shape.join() || p.dtype !== state[k].dtype);
    }).map((k) =>
      `${k}: expected [${own.get(k)!.shape}] ${own.get(k)!.dtype}, got [${state[k].shape}] ${
        state[k].dtype
      }`
    );
    const problems = [
      ...(strict && missing.length ? [`missing keys: ${missing.join(", ")}`] : []),
      ...(strict && unexpected.length ? [`unexpected keys: ${unexpected.join(", ")}`] : []),
      ...(mismatched.length ? [`shape/dtype mismatches: ${mismatched.join("; ")}`] : []),
    ];
    if (problems.length) throw new Error(`loadStateDict: ${problems.join(" | ")}`);
    for (const [k, v] of Object.entries(state)) {
      const p = own.get(k);
      if (p) copyBuffer(v.buffer, p.buffer, p.byteLength);
    }
  }

  /** Sets training mode on this module and all children; returns this. */
  train(on = true): this {
    this.training = on;
    for (const [, m] of this.#children) m.train(on);
    return this;
  }

  /** Evaluation mode (dropout off); returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Stops gradients for parameters whose dotted name matches `pattern`; returns how many. */
  freeze(pattern: RegExp | string = /.*/): number {
    return this.#setTrainable(pattern, false);
  }

  /** Re-enables gradients for parameters whose dotted name matches `pattern`; returns how many. */
  unfreeze(pattern: RegExp | string = /.*/): number {
    return this.#setTrainable(pattern, true);
  }

  #setTrainable(pattern: RegExp | string, on: boolean): number {
    const re = typeof pattern === "string" ? new RegExp(pattern) : pattern;
    let n = 0;
    for (const [name, p] of this.namedParameters()) {
      if (re.test(name)) {
        p.requiresGrad = on;
        n++;
      }
    }
    return n;
  }

  /** Total number of parameter elements (trainable or not). */
  numParameters(): number {
    return this.namedParameters().reduce((n, [, p]) => n + p.size, 0);
  }

  /**
   * Frees every parameter's GPU memory, child by child, so a module that holds other tensors
   * (constant tables) frees them by overriding this. Disposing twice is harmless.
   */
  dispose(): void {
    for (const [, p] of this.#params) p.dispose();
    for (const [, m] of this.#children) m.dispose();
  }
}
