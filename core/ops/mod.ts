/**
 * All tensor ops, by family.
 *
 * @module
 */
export * from "./elementwise.ts";
export * from "./reduce.ts";
export * from "./shape.ts";
