/**
 * Fast CLaRa toolkit: WebGPU tensors with reverse-mode autograd and WGSL kernels, for training
 * compressed-memory language models in Deno.
 *
 * ```ts
 * import { device, ops, tensor } from "@fast-clara/toolkit";
 * await device.init();
 * const x = tensor([1, 2, 3], [3]).requireGrad();
 * const loss = ops.sum(ops.mul(x, x));
 * loss.backward();
 * console.log(await x.grad!.data()); // [2, 4, 6]
 * ```
 *
 * Models live in `models`: `models.MemoryLM` (the generic memory encoder–decoder: compress a
 * document into memory tokens, decode `memory ⊕ prompt`, generate from a memory prefix; built on a
 * trained causal LM with `models.MemoryLM.fromDecoderOnly`) and `models.FastClaraAbsa` on top of it.
 *
 * @module
 */
export * as device from "./core/device.ts";
export { WebGPUError } from "./core/device.ts";
export * as ops from "./core/ops/mod.ts";
export {
  arange,
  type DType,
  full,
  ones,
  Tensor,
  tensor,
  type TensorData,
  zeros,
} from "./core/tensor.ts";
export { manualSeed, rand, randn, type RandomOptions, Rng } from "./core/random.ts";
export {
  type AccumulatedGrads,
  type BackwardRule,
  type GradNode,
  isGradEnabled,
  noGrad,
} from "./core/autograd.ts";
export { type Disposable, keep, tidy } from "./core/scope.ts";
export { type PoolStats, poolStats } from "./core/buffer_pool.ts";
export { counters, sync } from "./kernels/runtime.ts";
export * as optim from "./core/optim/mod.ts";
export * as amp from "./core/amp.ts";
export * as io from "./core/io/mod.ts";
export * as datasets from "./datasets/mod.ts";
export * as documents from "./datasets/documents/mod.ts";
export * as nn from "./core/nn/mod.ts";
export * as models from "./core/models/mod.ts";
export * as metrics from "./core/metrics/mod.ts";
export * as cluster from "./core/cluster/mod.ts";
export * as retrieval from "./core/retrieval/cosine_index.ts";
