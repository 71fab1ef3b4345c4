/**
 * Evaluation metrics: classification (accuracy, macro-F1), question answering (EM, F1,
 * Recall@k), the paired bootstrap of a difference between two systems, and clustering (NMI, ARI,
 * purity; silhouette, Davies–Bouldin, Calinski–Harabasz, local coherence).
 *
 * @module
 */
export * from "./classification.ts";
export * from "./qa.ts";
export * from "./bootstrap.ts";
export * from "./cluster_external.ts";
export * from "./cluster_internal.ts";
