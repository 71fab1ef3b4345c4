/**
 * Evaluation metrics: classification (accuracy, macro-F1) and question answering (EM, F1,
 * Recall@k).
 *
 * @module
 */
export * from "./classification.ts";
export * from "./qa.ts";
