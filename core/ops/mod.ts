/**
 * All tensor ops, by family.
 *
 * @module
 */
export * from "./elementwise.ts";
export * from "./reduce.ts";
export * from "./shape.ts";
export * from "./index.ts";
export * from "./select.ts";
export * from "./cast.ts";
