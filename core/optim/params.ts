/**
 * Parameter lists and groups, and the gradient bookkeeping the fused kernels need: every gradient
 * must own its buffer, because the kernels write gradients in place.
 *
 * @module
 */
import { keep } from "../scope.ts";
import { Tensor } from "../tensor.ts";
import { copyBuffer } from "../../kernels/runtime.ts";
import type { SizedBuffer } from "../../kernels/optim.wgsl.ts";

/** A set of parameters with its own learning rate and weight decay (defaults come from the optimizer). */
export interface ParamGroup {
  params: Tensor[];
  lr?: number;
  weightDecay?: number;
}

/** A group with every setting resolved; `lr` may be changed between steps. */
export interface ResolvedGroup {
  params: Tensor[];
  lr: number;
  weightDecay: number;
}

function isGroupList(params: Tensor[] | ParamGroup[]): params is ParamGroup[] {
  return params.length > 0 && !(params[0] instanceof Tensor);
}

/** Resolves a parameter list or group list against defaults; rejects duplicates and non-f32 params. */
export function resolveGroups(
  params: Tensor[] | ParamGroup[],
  defaults: { lr: number; weightDecay: number },
): ResolvedGroup[] {
  const groups = isGroupList(params) ? params : [{ params: params as Tensor[] }];
  const seen = new Set<GPUBuffer>();
  return groups.map((g, gi) => {
    for (const p of g.params) {
      if (!(p instanceof Tensor)) throw new Error(`param group ${gi}: expected Tensors`);
      if (p.dtype !== "f32") {
        throw new Error(`param group ${gi}: parameters must be f32 (master weights), got ${p}`);
      }
      if (seen.has(p.buffer)) {
        throw new Error(
          `param group ${gi}: ${p} appears twice or shares storage with another param`,
        );
      }
      seen.add(p.buffer);
    }
    const lr = g.lr ?? defaults.lr;
    const weightDecay = g.weightDecay ?? defaults.weightDecay;
    if (!(lr >= 0) || !(weightDecay >= 0)) {
      throw new Error(`param group ${gi}: lr (${lr}) and weightDecay (${weightDecay}) must be ≥ 0`);
    }
    return { params: [...g.params], lr, weightDecay };
  });
}

/**
 * Makes every gradient of `params` own a distinct buffer (the autograd may hand two leaves views of
 * one gradient, e.g. both inputs of an add) and returns the gradients as sized buffers, skipping
 * params without a gradient. Records at most one copy per shared gradient; no sync.
 */
export function distinctGrads(params: Iterable<Tensor>): SizedBuffer[] {
  const owners = new Set<GPUBuffer>();
  const out: SizedBuffer[] = [];
  const list = [...params];
  for (const p of list) owners.add(p.buffer);
  for (const p of list) {
    const g = p.grad;
    if (!g) continue;
    if (g.dtype !== "f32" || g.size !== p.size) {
      throw new Error(`the gradient of ${p} is ${g}; expected f32 of the same size`);
    }
    if (owners.has(g.buffer)) {
      const copy = keep(new Tensor(p.shape, "f32"));
      copyBuffer(g.buffer, copy.buffer, g.byteLength);
      g.dispose();
      p.grad = copy;
    }
    owners.add(p.grad!.buffer);
    out.push({ buffer: p.grad!.buffer, n: p.size });
  }
  return out;
}
