/**
 * Neural-network modules.
 *
 * @module
 */
export * from "./module.ts";
export * from "./layers.ts";
export * from "./attention.ts";
export * from "./positions.ts";
export * from "./transformer.ts";
export * from "./stacks.ts";
export * from "./kv_cache.ts";
export * from "./generate.ts";
export * from "./lora.ts";
export * from "./perceiver.ts";
export * from "./losses.ts";
export * from "./local_mix.ts";
export * from "./pointer.ts";
