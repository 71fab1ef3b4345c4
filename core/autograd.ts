/**
 * Reverse-mode autograd. An op that produced a tensor from inputs needing gradients attaches a
 * node: its inputs and a backward rule mapping the output's gradient to one gradient per input.
 * `backward(loss)` walks the nodes in reverse topological order and accumulates gradients;
 * leaves collect theirs in `.grad`.
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";
import { keep } from "./scope.ts";
import { fastPathsEnabled } from "../kernels/fast_paths.ts";

/**
 * A backward rule: output gradient → one gradient (or null) per input, shaped like that input.
 * A rule whose kernel can add into an existing gradient may call `accumulated.take(i)`: it hands
 * over the gradient summed so far for input i (null when there is none yet, or when the engine's
 * fast paths are off), and the rule's result for input i must then include it.
 */
export type BackwardRule = (grad: Tensor, accumulated: AccumulatedGrads) => (Tensor | null)[];

/** The gradients accumulated so far for the inputs of the node whose rule runs. */
export interface AccumulatedGrads {
  /** Removes and returns input i's gradient so far, or null (see {@linkcode BackwardRule}). */
  take(input: number): Tensor | null;
}

/** The record an op leaves on its output. */
export interface GradNode {
  /** Name of the op, for error messages. */
  op: string;
  /** The op's tensor inputs, in the order of the rule's result. */
  inputs: Tensor[];
  /** The backward rule. */
  backward: BackwardRule;
}

let gradEnabled = true;

/** Whether ops currently record nodes. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording any node: its results need no gradient. */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Attaches a node to `out` when gradients are on and some input requires them; returns `out`. */
export function attach(out: Tensor, op: string, inputs: Tensor[], backward: BackwardRule): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.node?.inputs ?? []) {
      if (!i.requiresGrad || seen.has(i)) continue;
      // A disposed intermediate has lost its node: the walk would stop there and leave the
      // parameters behind it without gradients, silently.
      if (i.isDisposed) {
        throw new Error(
          `backward(): an input [${i.shape}] of ${t.node!.op} was disposed before backward() ` +
            `(by the tidy() scope that created it?); call backward() inside that scope`,
        );
      }
      stack.push([i, false]);
    }
  }
  return order.reverse();
}

/**
 * Backpropagates from `root` (a scalar unless `grad` is given) and accumulates into the `.grad`
 * of every leaf that requires gradients. The graph is released afterwards.
 */
export function backward(
  root: Tensor,
  grad: Tensor | undefined,
  add: (a: Tensor, b: Tensor) => Tensor,
  ones: (shape: readonly number[]) => Tensor,
): void {
  if (!root.requiresGrad) throw new Error("backward(): the tensor does not require grad");
  if (!grad && root.size !== 1) {
    throw new Error(`backward() needs a scalar, got shape [${root.shape}]; pass a gradient`);
  }
  const grads = new Map<Tensor, Tensor>([[root, grad ?? ones(root.shape)]]);
  noGrad(() => {
    for (const t of topoOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      const node = t.node;
      if (!node) {
        const view = keep(g.reshape(t.shape));
        if (t.grad) {
          const sum = keep(add(t.grad, view));
          t.grad.dispose();
          view.dispose();
          t.grad = sum;
        } else {
          t.grad = view;
        }
        continue;
      }
      const accumulated: AccumulatedGrads = {
        take(i) {
          const input = node.inputs[i];
          const prev = fastPathsEnabled() && input.requiresGrad ? grads.get(input) : undefined;
          if (!prev) return null;
          grads.delete(input);
          return prev;
        },
      };
      const inputGrads = node.backward(g, accumulated);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi || !input.requiresGrad) return;
        if (gi.size !== input.size) {
          throw new Error(
            `backward of ${node.op}: gradient shape [${gi.shape}] does not match input [${input.shape}]`,
          );
        }
        const prev = grads.get(input);
        grads.set(input, prev ? add(prev, gi) : gi);
      });
      t.node = null;
    }
  });
}
