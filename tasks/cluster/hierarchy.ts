/**
 * The topic hierarchy: level 0 holds the clusters, level 1 groups their centroids by Ward's
 * method (cut into about √k groups), level 2 is the root. Every node is labelled the same way as
 * a cluster (from all the texts under it).
 *
 * @module
 */
import { clusterMeans, normalizeRows, type Points } from "../../core/cluster/points.ts";
import { cutLinkage, wardLinkage } from "../../core/cluster/ward.ts";
import type { ClusterLabel } from "./labels.ts";

/** One node of the hierarchy as written to `hierarchy.json`. */
export interface HierarchyNode {
  /** `c<i>` for cluster i, `g<j>` for group j, `root`. */
  id: string;
  level: number;
  parent: string | null;
  /** Texts under the node. */
  size: number;
  label: ClusterLabel;
  /** Child node ids (empty for clusters). */
  children: string[];
  /** Text indices (clusters only; groups and the root list their children). */
  members?: number[];
}

/** The cluster → group → root assignment (labels filled in by the caller). */
export interface HierarchyShape {
  /** Group of each cluster. */
  groupOf: Int32Array;
  groups: number;
}

/**
 * Groups `k` clusters of `points` (labels[i] in [0, k), −1 noise) into about √k groups by Ward's
 * method on their unit-length centroids; k ≤ 3 gives one group.
 */
export function groupClusters(
  points: Points,
  labels: ArrayLike<number>,
  k: number,
): HierarchyShape {
  if (k <= 3) return { groupOf: new Int32Array(k), groups: 1 };
  const { means } = clusterMeans(points, labels, k);
  const groups = Math.max(2, Math.round(Math.sqrt(k)));
  return { groupOf: cutLinkage(wardLinkage(normalizeRows(means)), groups), groups };
}

/** A node before labelling, and the texts under it (what its label is computed from). */
export interface UnlabelledNode {
  node: Omit<HierarchyNode, "label">;
  texts: number[];
}

/** Builds the nodes: clusters, groups (when more than one), root. */
export function hierarchyNodes(
  members: readonly number[][],
  shape: HierarchyShape,
): UnlabelledNode[] {
  const out: UnlabelledNode[] = [];
  const grouped = shape.groups > 1;
  const groupMembers: number[][] = Array.from({ length: shape.groups }, () => []);
  members.forEach((m, c) => {
    groupMembers[shape.groupOf[c]].push(c);
    out.push({
      node: {
        id: `c${c}`,
        level: 0,
        parent: grouped ? `g${shape.groupOf[c]}` : "root",
        size: m.length,
        children: [],
        members: [...m],
      },
      texts: [...m],
    });
  });
  if (grouped) {
    groupMembers.forEach((clusters, g) => {
      const texts = clusters.flatMap((c) => members[c]);
      out.push({
        node: {
          id: `g${g}`,
          level: 1,
          parent: "root",
          size: texts.length,
          children: clusters.map((c) => `c${c}`),
        },
        texts,
      });
    });
  }
  const all = members.flat();
  out.push({
    node: {
      id: "root",
      level: grouped ? 2 : 1,
      parent: null,
      size: all.length,
      children: grouped ? groupMembers.map((_, g) => `g${g}`) : members.map((_, c) => `c${c}`),
    },
    texts: all,
  });
  return out;
}
