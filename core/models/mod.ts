/**
 * Models composed from `core/nn` modules: the generic memory encoder–decoder
 * ({@linkcode MemoryLM}, CLaRa's compressor and generator) and the ABSA model built on it.
 *
 * @module
 */
export * from "./memory_lm.ts";
export * from "./memory_lm_config.ts";
export * from "./memory_batch.ts";
export * from "./fast_clara_absa.ts";
export * from "./latent_qa.ts";
