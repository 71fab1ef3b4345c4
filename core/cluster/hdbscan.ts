/**
 * HDBSCAN (Campello, Moulavi & Sander 2013) with excess-of-mass cluster selection, as the
 * `hdbscan` Python package and scikit-learn run it by default: core distance = distance to the
 * `minSamples`-th nearest point (the point itself included); mutual reachability
 * max(core(a), core(b), d(a, b)); its minimum spanning tree (Prim, O(n²) on the dense graph); the
 * single-linkage hierarchy of that tree condensed so that a split counts only when both sides hold
 * `minClusterSize` points (a smaller side "falls out" as points); each condensed cluster's
 * stability Σ (λ_leave − λ_birth) with λ = 1 / distance; then, bottom-up, a cluster is kept when
 * its stability is at least the sum of its kept descendants'. The root is never selected, so one
 * blob alone comes out as noise (their `allow_single_cluster = False`). Points not under a kept
 * cluster are noise (−1).
 *
 * @module
 */
import { type Points, squaredDistance } from "./points.ts";
import { kthSmallest } from "./dbscan.ts";

/** Options of {@linkcode hdbscan}. */
export interface HdbscanOptions {
  /** Fewest points a condensed cluster may hold (integer ≥ 2); smaller splits fall out. */
  minClusterSize: number;
  /** Neighbours for the core distance, the point itself included (default `minClusterSize`). */
  minSamples?: number;
}

/** Cluster of each point (−1: noise), clusters numbered in the condensed tree's order. */
export function hdbscan(x: Points, options: HdbscanOptions): Int32Array {
  const mcs = options.minClusterSize;
  const ms = options.minSamples ?? mcs;
  if (!Number.isInteger(mcs) || mcs < 2) {
    throw new Error(`HDBSCAN: minClusterSize must be an integer ≥ 2, got ${mcs}`);
  }
  if (!Number.isInteger(ms) || ms < 1 || ms > x.n) {
    throw new Error(`HDBSCAN: minSamples must be an integer in [1, ${x.n}], got ${ms}`);
  }
  const n = x.n;
  const tree = singleLinkage(n, mutualReachabilityTree(x, ms));
  return selectClusters(n, tree, mcs);
}

interface Edge {
  a: number;
  b: number;
  w: number;
}

/** Prim's minimum spanning tree of the mutual-reachability graph, edges sorted by weight. */
function mutualReachabilityTree(x: Points, minSamples: number): Edge[] {
  const n = x.n;
  const core = new Float64Array(n);
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) row[j] = squaredDistance(x, i, x, j);
    core[i] = Math.sqrt(kthSmallest(row, minSamples - 1));
  }
  const inTree = new Uint8Array(n);
  const best = new Float64Array(n).fill(Infinity);
  const from = new Int32Array(n).fill(-1);
  const edges: Edge[] = [];
  let current = 0;
  inTree[0] = 1;
  for (let added = 1; added < n; added++) {
    let next = -1;
    for (let j = 0; j < n; j++) {
      if (inTree[j]) continue;
      const d = Math.max(core[current], core[j], Math.sqrt(squaredDistance(x, current, x, j)));
      if (d < best[j]) {
        best[j] = d;
        from[j] = current;
      }
      if (next < 0 || best[j] < best[next]) next = j;
    }
    inTree[next] = 1;
    edges.push({ a: from[next], b: next, w: best[next] });
    current = next;
  }
  return edges.sort((p, q) => p.w - q.w);
}

interface Hierarchy {
  left: Int32Array;
  right: Int32Array;
  weight: Float64Array;
  size: Int32Array;
}

/** Single-linkage merges of sorted MST edges; node n + e is the merge of edge e. */
function singleLinkage(n: number, edges: Edge[]): Hierarchy {
  const m = edges.length;
  const h: Hierarchy = {
    left: new Int32Array(m),
    right: new Int32Array(m),
    weight: new Float64Array(m),
    size: new Int32Array(m),
  };
  const parent = Array.from({ length: n + m }, (_, i) => i);
  const find = (v: number): number => {
    while (parent[v] !== v) v = parent[v] = parent[parent[v]];
    return v;
  };
  const sizeOf = (v: number): number => (v < n ? 1 : h.size[v - n]);
  edges.forEach((e, i) => {
    const ra = find(e.a), rb = find(e.b);
    h.left[i] = ra;
    h.right[i] = rb;
    h.weight[i] = e.w;
    h.size[i] = sizeOf(ra) + sizeOf(rb);
    parent[ra] = parent[rb] = n + i;
  });
  return h;
}

/** Condenses the hierarchy, computes stabilities, selects by excess of mass, labels points. */
function selectClusters(n: number, h: Hierarchy, mcs: number): Int32Array {
  const sizeOf = (v: number): number => (v < n ? 1 : h.size[v - n]);
  const clusterParent: number[] = [-1];
  const birth: number[] = [0];
  const stability: number[] = [0];
  const fellFrom = new Int32Array(n).fill(0);
  const lambdaOf = (w: number): number => 1 / Math.max(w, 1e-12);
  /** Every point under `node` leaves `cluster` at λ. */
  const fallOut = (node: number, cluster: number, lambda: number): void => {
    const stack = [node];
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (v < n) fellFrom[v] = cluster;
      else stack.push(h.left[v - n], h.right[v - n]);
    }
    stability[cluster] += (lambda - birth[cluster]) * sizeOf(node);
  };
  const work: [number, number][] = [[n + h.left.length - 1, 0]];
  while (work.length > 0) {
    // Only merges are pushed: a single point is below minClusterSize ≥ 2.
    const [node, cluster] = work.pop()!;
    const e = node - n, lambda = lambdaOf(h.weight[e]);
    const l = h.left[e], r = h.right[e];
    const big = (v: number) => sizeOf(v) >= mcs;
    if (big(l) && big(r)) {
      stability[cluster] += (lambda - birth[cluster]) * (sizeOf(l) + sizeOf(r));
      for (const child of [l, r]) {
        clusterParent.push(cluster);
        birth.push(lambda);
        stability.push(0);
        work.push([child, clusterParent.length - 1]);
      }
    } else if (!big(l) && !big(r)) {
      fallOut(l, cluster, lambda);
      fallOut(r, cluster, lambda);
    } else {
      const [small, large] = big(l) ? [r, l] : [l, r];
      fallOut(small, cluster, lambda);
      work.push([large, cluster]);
    }
  }
  const count = clusterParent.length;
  const children: number[][] = Array.from({ length: count }, () => []);
  for (let c = 1; c < count; c++) children[clusterParent[c]].push(c);
  const value = new Float64Array(count);
  const selected = new Uint8Array(count);
  for (let c = count - 1; c >= 1; c--) {
    const below = children[c].reduce((s, ch) => s + value[ch], 0);
    if (children[c].length === 0 || stability[c] >= below) {
      selected[c] = 1;
      value[c] = stability[c];
    } else value[c] = below;
  }
  // A kept cluster hides every kept cluster below it.
  let next = 0;
  const owner = new Int32Array(count).fill(-1);
  for (let c = 1; c < count; c++) {
    const up = owner[clusterParent[c]];
    if (up >= 0) owner[c] = up;
    else if (selected[c]) owner[c] = next++;
  }
  return Int32Array.from(fellFrom, (c) => owner[c]);
}
