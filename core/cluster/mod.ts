/**
 * Clustering: point sets, k-means++ / Lloyd, Ward linkage (SciPy format), DBSCAN, HDBSCAN, and
 * 2-D projections (PCA, UMAP) for maps. The scores live in `metrics`.
 *
 * @module
 */
export * from "./points.ts";
export * from "./kmeans.ts";
export * from "./ward.ts";
export * from "./dbscan.ts";
export * from "./hdbscan.ts";
export * from "./eigen.ts";
export * from "./projection.ts";
