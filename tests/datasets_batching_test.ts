import assert from "node:assert/strict";
import {
  bucketByLength,
  collateMemoryBatch,
  IGNORE_INDEX,
  padRows,
  seededShuffle,
} from "../datasets/batching.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("seededShuffle is a permutation fixed by the seed", () => {
  const items = range(100);
  const a = seededShuffle(items, 7);
  assert.deepEqual(a, seededShuffle(items, 7));
  assert.notDeepEqual(a, seededShuffle(items, 8));
  assert.notDeepEqual(a, items);
  assert.deepEqual([...a].sort((x, y) => x - y), items);
  assert.deepEqual(items, range(100), "input untouched");
});

Deno.test("bucketByLength covers every index once and groups similar lengths", () => {
  // Lengths from a fixed pseudo-random sequence in [1, 200].
  const lengths = range(1000).map((i) => 1 + ((i * 7919) % 200));
  const batches = bucketByLength(lengths, 16, { seed: 3, poolBatches: 20 });
  assert.deepEqual(batches.flat().sort((a, b) => a - b), range(1000));
  assert.ok(batches.every((b) => b.length <= 16));
  assert.deepEqual(batches, bucketByLength(lengths, 16, { seed: 3, poolBatches: 20 }));
  const spread = (b: number[]) =>
    Math.max(...b.map((i) => lengths[i])) - Math.min(...b.map((i) => lengths[i]));
  const bucketed = batches.reduce((s, b) => s + spread(b), 0) / batches.length;
  const shuffled = seededShuffle(range(1000), 3);
  const random = range(63).reduce((s, k) => s + spread(shuffled.slice(k * 16, k * 16 + 16)), 0) /
    63;
  assert.ok(bucketed < random / 5, `bucketed spread ${bucketed} vs random ${random}`);
  assert.throws(() => bucketByLength(lengths, 0, { seed: 1 }), /batchSize/);
});

Deno.test("padRows pads, masks and cuts", () => {
  const p = padRows([[5, 6, 7], [8]], 0);
  assert.deepEqual(p.shape, [2, 3]);
  assert.deepEqual([...p.ids], [5, 6, 7, 8, 0, 0]);
  assert.deepEqual([...p.mask], [1, 1, 1, 1, 0, 0]);
  const cut = padRows([[1, 2, 3, 4]], 9, 2);
  assert.deepEqual([...cut.ids], [1, 2]);
});

Deno.test("collateMemoryBatch: text + memory tokens, prompt + target with shifted labels", () => {
  const batch = collateMemoryBatch(
    [
      { text: [10, 11, 12, 13, 14], prompt: [20, 21], target: [30, 31] },
      { text: [15], prompt: [22], target: [32] },
    ],
    { padId: 0, memoryTokenIds: [90, 91], maxTextLength: 3 },
  );
  assert.deepEqual(batch.encoder.shape, [2, 5]);
  assert.deepEqual([...batch.encoder.ids], [10, 11, 12, 90, 91, 15, 90, 91, 0, 0]);
  assert.deepEqual([...batch.encoder.mask], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual([...batch.memoryPositions], [3, 4, 1, 2]);
  assert.deepEqual([...batch.decoder.ids], [20, 21, 30, 31, 22, 32, 0, 0]);
  const I = IGNORE_INDEX;
  assert.deepEqual([...batch.labels], [I, 30, 31, I, 32, I, I, I]);
});
