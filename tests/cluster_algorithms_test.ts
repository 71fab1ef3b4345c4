import { assert, assertEquals, assertThrows } from "./assert.ts";
import { Rng } from "../core/random.ts";
import { type Points, pointsFromRows } from "../core/cluster/points.ts";
import { assignNearest, kMeans } from "../core/cluster/kmeans.ts";
import { gpuAssigner } from "../core/cluster/gpu_assign.ts";
import { gpuTest } from "./helpers.ts";
import { cutLinkage, wardLinkage } from "../core/cluster/ward.ts";
import { dbscan } from "../core/cluster/dbscan.ts";
import { hdbscan } from "../core/cluster/hdbscan.ts";
import { symmetricEigen } from "../core/cluster/eigen.ts";
import { pca, umap2d } from "../core/cluster/projection.ts";

function assertAlmostEquals(actual: number, expected: number, tol: number, message = ""): void {
  assert(Math.abs(actual - expected) <= tol, `${message} ${actual} ≠ ${expected} ± ${tol}`);
}

async function rejectsWith(fn: () => Promise<unknown>, fragment: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(
      (e as Error).message.includes(fragment),
      `"${(e as Error).message}" lacks "${fragment}"`,
    );
    return;
  }
  throw new Error(`expected an error with "${fragment}"`);
}

const CENTRES = [[0, 0], [10, 0], [0, 10], [10, 10]];

/** `perBlob` points around each centre (σ = 0.5); the blob index is the known partition. */
function blobs(
  perBlob: number,
  seed: number,
  extra: number[][] = [],
): { x: Points; truth: number[] } {
  const rng = new Rng(seed);
  const rows: number[][] = [], truth: number[] = [];
  CENTRES.forEach(([cx, cy], b) => {
    for (let i = 0; i < perBlob; i++) {
      rows.push([cx + 0.5 * rng.normal(), cy + 0.5 * rng.normal()]);
      truth.push(b);
    }
  });
  for (const row of extra) {
    rows.push(row);
    truth.push(-1);
  }
  return { x: pointsFromRows(rows), truth };
}

/** Whether two labelings are the same partition up to renaming, with −1 kept as −1. */
function samePartition(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const ab = new Map<number, number>(), ba = new Map<number, number>();
  for (let i = 0; i < a.length; i++) {
    if ((a[i] === -1) !== (b[i] === -1)) return false;
    if (ab.has(a[i]) && ab.get(a[i]) !== b[i]) return false;
    if (ba.has(b[i]) && ba.get(b[i]) !== a[i]) return false;
    ab.set(a[i], b[i]);
    ba.set(b[i], a[i]);
  }
  return true;
}

Deno.test("kMeans (k-means++) recovers four separated blobs exactly, the same for the same seed", async () => {
  const { x, truth } = blobs(25, 1);
  for (const seed of [0, 1, 2]) {
    const r = await kMeans(x, { k: 4, seed });
    assert(samePartition(r.labels, truth), `seed ${seed}: ${r.labels}`);
    assertEquals((await kMeans(x, { k: 4, seed })).labels, r.labels);
    assertEquals((await kMeans(x, { k: 4, seed })).centroids.data, r.centroids.data);
  }
  // Centroids are the blob means; inertia is the within-blob sum of squares (~ 100 · 2 · 0.25).
  const r = await kMeans(x, { k: 4, seed: 0 });
  for (let c = 0; c < 4; c++) {
    const [cx, cy] = r.centroids.data.subarray(2 * c, 2 * c + 2);
    assert(CENTRES.some(([a, b]) => Math.hypot(a - cx, b - cy) < 0.3), `centroid ${cx},${cy}`);
  }
  assert(r.inertia > 25 && r.inertia < 75, `inertia ${r.inertia}`);
  await rejectsWith(() => kMeans(x, { k: 0 }), "k must be an integer in [1, 100]");
  await rejectsWith(() => kMeans(x, { k: 101 }), "k must be an integer in [1, 100]");
});

Deno.test("kMeans with k = 1 puts every point in one cluster at the mean", async () => {
  const x = pointsFromRows([[0, 0], [2, 0], [4, 6]]);
  const r = await kMeans(x, { k: 1 });
  assertEquals([...r.labels], [0, 0, 0]);
  assertEquals([...r.centroids.data], [2, 2]);
  assertAlmostEquals(r.inertia, (4 + 4) + (0 + 4) + (4 + 16), 1e-9);
});

Deno.test("wardLinkage matches SciPy's linkage(X, 'ward') on the committed fixture", async () => {
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/cluster/ward_scipy.json", import.meta.url)),
  ) as { points: number[][]; linkage: number[][]; fcluster_maxclust_3: number[] };
  const z = wardLinkage(pointsFromRows(fixture.points));
  assertEquals(z.length, fixture.linkage.length);
  z.forEach((row, i) => {
    const ref = fixture.linkage[i];
    assertEquals([row[0], row[1], row[3]], [ref[0], ref[1], ref[3]], `row ${i}`);
    // Points are stored as f32 (0.3 → 0.30000001192…), the rest is f64: relative 1e-6 covers
    // the f32 rounding of the coordinates (~6e-8 relative) carried through squares and sums.
    assertAlmostEquals(row[2], ref[2], 1e-6 * ref[2], `row ${i} distance`);
  });
  assert(samePartition(cutLinkage(z, 3), fixture.fcluster_maxclust_3));
});

Deno.test("wardLinkage cut at 4 recovers the blobs; too many points is refused by count", () => {
  const { x, truth } = blobs(15, 2);
  assert(samePartition(cutLinkage(wardLinkage(x), 4), truth));
  assertEquals([...cutLinkage(wardLinkage(x), 1)], new Array(60).fill(0));
  assertThrows(() => wardLinkage(x, 50), "Ward linkage of 60 points");
  assertThrows(() => cutLinkage(wardLinkage(x), 61), "k must be an integer in [1, 60]");
});

Deno.test("dbscan finds the blobs and marks the far points as noise", () => {
  const { x, truth } = blobs(20, 3, [[5, 5], [30, -30]]);
  const labels = dbscan(x, { eps: 1.5, minSamples: 4 });
  assert(samePartition(labels, truth), `${labels}`);
  // eps far below the spacing: no point has 4 neighbours, everything is noise.
  assertEquals([...dbscan(x, { eps: 1e-3, minSamples: 4 })], new Array(82).fill(-1));
  assertThrows(() => dbscan(x, { eps: 0, minSamples: 4 }), "eps must be > 0");
});

Deno.test("hdbscan finds the blobs without eps and marks the far points as noise", () => {
  // Far points fall out of the root before any split: noise. (A point between two blobs would
  // join the nearer blob first and fall out of that blob's cluster, so it would take its label.)
  const { x, truth } = blobs(20, 4, [[30, -30], [-30, 40]]);
  const labels = hdbscan(x, { minClusterSize: 5 });
  assert(samePartition(labels, truth), `${labels}`);
  assertEquals(hdbscan(x, { minClusterSize: 5 }), labels);
  assertThrows(() => hdbscan(x, { minClusterSize: 1 }), "minClusterSize must be");
});

Deno.test("hdbscan keeps a nested pair apart only when it is more stable than its parent", () => {
  // Two tight blobs 3 apart, far from a third: the tight pair splits (each is very dense).
  const rng = new Rng(5);
  const rows: number[][] = [], truth: number[] = [];
  for (const [b, cx, cy] of [[0, 0, 0], [1, 3, 0], [2, 40, 40]]) {
    for (let i = 0; i < 20; i++) {
      rows.push([cx + 0.1 * rng.normal(), cy + 0.1 * rng.normal()]);
      truth.push(b);
    }
  }
  assert(samePartition(hdbscan(pointsFromRows(rows), { minClusterSize: 5 }), truth));
});

Deno.test("symmetricEigen: known 2×2 and 3×3 decompositions", () => {
  const e = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assertAlmostEquals(e.values[0], 3, 1e-12);
  assertAlmostEquals(e.values[1], 1, 1e-12);
  assertAlmostEquals(e.vectors[0][0], Math.SQRT1_2, 1e-12);
  assertAlmostEquals(e.vectors[0][1], Math.SQRT1_2, 1e-12);
  const d = symmetricEigen(Float64Array.from([1, 0, 0, 0, 5, 0, 0, 0, 3]), 3);
  assertEquals(d.values, [5, 3, 1]);
  assertEquals([...d.vectors[0]], [0, 1, 0]);
});

Deno.test("pca of points on a line puts the line on the first axis; umap2d is seeded", () => {
  const x = pointsFromRows(Array.from({ length: 9 }, (_, i) => [i, 2 * i, 5]));
  const p = pca(x);
  for (let i = 0; i < 9; i++) {
    assertAlmostEquals(p[2 * i], (i - 4) * Math.sqrt(5), 1e-9);
    assertAlmostEquals(p[2 * i + 1], 0, 1e-9);
  }
  const { x: b } = blobs(10, 6);
  const u1 = umap2d(b, { seed: 3 }), u2 = umap2d(b, { seed: 3 });
  assertEquals(u1, u2);
  assertEquals(u1.length, 80);
  assert(u1.every(Number.isFinite));
});

gpuTest(
  "gpuAssigner: the GPU product gives the CPU's assignment; k-means with it recovers the blobs",
  async () => {
    const { x, truth } = blobs(25, 7);
    const rng = new Rng(8);
    const centroids = pointsFromRows(
      Array.from({ length: 6 }, () => [10 * rng.next(), 10 * rng.next()]),
    );
    const gpu = gpuAssigner(x);
    try {
      const a = await gpu.assign(centroids), b = assignNearest(x, centroids);
      assertEquals(a.labels, b.labels);
      // f32 products (|x·c| < 300) against f64: absolute error well under 1e-3 of distances ~1–200.
      for (let i = 0; i < x.n; i++) {
        assertAlmostEquals(a.distances[i], b.distances[i], 1e-3, `point ${i}`);
      }
      const r = await kMeans(x, { k: 4, seed: 1, assign: gpu.assign });
      assert(samePartition(r.labels, truth));
      assertEquals(r.labels, (await kMeans(x, { k: 4, seed: 1 })).labels);
    } finally {
      gpu.dispose();
    }
  },
);
