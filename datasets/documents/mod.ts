/**
 * Document reading for the CLaRa data pipeline: readers for txt, md, html, pdf, docx, pptx and
 * images into blocks, sentence splitting, token-budget chunking and language detection.
 *
 * @module
 */
export * from "./types.ts";
export * from "./formats.ts";
export * from "./read_document.ts";
export * from "./text_reader.ts";
export * from "./markdown_reader.ts";
export * from "./html_reader.ts";
export * from "./pdf_reader.ts";
export * from "./docx_reader.ts";
export * from "./pptx_reader.ts";
export * from "./image_check.ts";
export * from "./sentences.ts";
export * from "./chunker.ts";
export * from "./language.ts";
