/**
 * All tensor ops, by family.
 *
 * @module
 */
export * from "./broadcast.ts";
export * from "./elementwise.ts";
export * from "./reduce.ts";
export * from "./shape.ts";
export * from "./matmul.ts";
export * from "./gather.ts";
export * from "./select.ts";
export * from "./cast.ts";
export * from "./softmax.ts";
export * from "./norm.ts";
export * from "./loss.ts";
export * from "./similarity.ts";
export * from "./topk.ts";
