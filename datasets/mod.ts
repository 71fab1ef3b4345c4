/**
 * Data layer: ABSA XML and multi-hop QA readers, tokenizers, batching and data-directory
 * resolution.
 *
 * @module
 */
export * from "./absa_xml.ts";
export * from "./absa_stats.ts";
export * from "./data_dir.ts";
export * from "./tokenizer.ts";
export * from "./tokenizer_json.ts";
export * from "./wordpiece_trainer.ts";
export * from "./gpt2_vocab.ts";
export * from "./batching.ts";
export * from "./multihop_qa.ts";
export * from "./fetch.ts";
