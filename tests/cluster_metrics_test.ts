import { assert, assertEquals, assertThrows } from "./assert.ts";
import { pointsFromRows } from "../core/cluster/points.ts";
import {
  adjustedRandIndex,
  normalizedMutualInformation,
  purity,
} from "../core/metrics/cluster_external.ts";
import {
  calinskiHarabasz,
  daviesBouldin,
  localCoherence,
  silhouette,
} from "../core/metrics/cluster_internal.ts";

function close(actual: number, expected: number, message = ""): void {
  // Hand-computed values in f64; only rounding separates them.
  assert(Math.abs(actual - expected) < 1e-12, `${message} ${actual} ≠ ${expected}`);
}

Deno.test("NMI, ARI and purity match hand-computed values", () => {
  // P splits T's second class: MI = H(T) = ln 2, H(P) = 1.5 ln 2 → NMI = 1 / 1.25.
  close(normalizedMutualInformation([0, 0, 1, 1], [0, 0, 1, 2]), 0.8, "NMI");
  // Σ C(nᵢⱼ,2) = 1, Σ C(aᵢ,2) = 2, Σ C(bⱼ,2) = 1, C(4,2) = 6: (1 − 1/3) / (1.5 − 1/3) = 4/7.
  close(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]), 4 / 7, "ARI");
  close(purity([0, 0, 1, 1], [0, 0, 1, 2]), 1, "purity");
  // Strings and renamed clusters: the same partition.
  close(normalizedMutualInformation(["a", "a", "b"], [7, 7, 3]), 1);
  close(adjustedRandIndex(["a", "a", "b"], [7, 7, 3]), 1);
  // Everything in one cluster against two balanced classes: no information, ARI 0, purity ½.
  close(normalizedMutualInformation([0, 0, 1, 1], [0, 0, 0, 0]), 0);
  close(adjustedRandIndex([0, 0, 1, 1], [0, 0, 0, 0]), 0);
  close(purity([0, 0, 1, 1], [0, 0, 0, 0]), 0.5);
  // ARI below 0 for an anti-correlated split: Σ C(nᵢⱼ,2) = 0, E = 2·2/6 → (0 − ⅔) / (2 − ⅔).
  close(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]), -0.5);
  assertThrows(() => adjustedRandIndex([0, 1], [0]), "2 reference labels against 1 predictions");
});

Deno.test("silhouette, Davies–Bouldin and Calinski–Harabasz match hand-computed values", () => {
  // 1-D points 0, 1 | 4, 5: s = (7/9, 5/7, 5/7, 7/9), mean 94/126.
  const x = pointsFromRows([[0], [1], [4], [5]]);
  const labels = [0, 0, 1, 1];
  close(silhouette(x, labels), 94 / 126, "silhouette");
  // Spreads 0.5 and 0.5, centroid distance 4: DB = 1/4.
  close(daviesBouldin(x, labels), 0.25, "DB");
  // Between 2·2² + 2·2² = 16 over k − 1 = 1; within 4 · ¼ = 1 over n − k = 2: CH = 32.
  close(calinskiHarabasz(x, labels), 32, "CH");
  // A singleton cluster contributes s = 0; noise (−1) is left out.
  // Points 0 and 1: a = 1, b = 10 and 9 → s = 0.9 and 8/9; the singleton 10: 0.
  close(silhouette(pointsFromRows([[0], [1], [10], [50]]), [0, 0, 1, -1]), (0.9 + 8 / 9) / 3);
  assert(Number.isNaN(silhouette(x, [0, 0, 0, 0])), "one cluster has no silhouette");
});

Deno.test("localCoherence: inside and outside cosines of hand-made directions", () => {
  // Two clusters of directions (exact in f32): (1,0),(1,½) and (0,1),(½,1). Every point's cosine
  // to its one same-cluster neighbour is c = 1/√1.25.
  const x = pointsFromRows([[1, 0], [1, 0.5], [0, 1], [0.5, 1]]);
  const r = localCoherence(x, [0, 0, 1, 1], 1);
  const c = 1 / Math.sqrt(1.25);
  close(r.inside, c, "inside");
  // Best outside cosine: (1,0)→(½,1): ½c; (1,½)→(½,1): 1/1.25 = 0.8; the other two mirror these.
  close(r.outside, (0.5 * c + 0.8) / 2, "outside");
  close(r.margin, r.inside - r.outside, "margin");
  assertEquals(localCoherence(x, [0, 1, 2, 3], 1).inside, NaN);
});
