/**
 * Models composed from `core/nn` modules.
 *
 * @module
 */
export * from "./fast_clara_absa.ts";
export * from "./latent_qa.ts";
