import { assert, assertEquals, assertThrows } from "./assert.ts";
import { pairedBootstrap } from "../core/metrics/bootstrap.ts";
import { Rng } from "../core/random.ts";

Deno.test("pairedBootstrap: a constant shift has that mean and a zero-width interval", () => {
  const b = [0.1, 0.5, 0.9, 0.3];
  const r = pairedBootstrap(b.map((x) => x + 0.25), b);
  // Every resample of a constant difference has the same mean, up to float rounding of x + 0.25 − x.
  for (const v of [r.diff, r.lo, r.hi]) assert(Math.abs(v - 0.25) < 1e-12, `${v}`);
  assertEquals([r.n, r.resamples, r.level], [4, 2000, 0.95]);
});

Deno.test("pairedBootstrap: the interval matches the normal approximation, and is seeded", () => {
  // 400 paired differences of mean 0.1 and standard deviation 1: the standard error is 0.05, so
  // the 95 % interval is mean ± 0.098. Over 4000 resamples each percentile end has a Monte-Carlo
  // error of about 0.002, and the sample's skew moves it by less, so 0.015 is a loose bound that
  // an unpaired resampling still fails: b's spread of 3 would widen the interval to ± 0.43.
  const g = new Rng(7);
  const b = Array.from({ length: 400 }, () => 3 * g.normal());
  const d = Array.from({ length: 400 }, () => 0.1 + g.normal());
  const a = b.map((x, i) => x + d[i]);
  const r = pairedBootstrap(a, b, { resamples: 4000 });
  const mean = d.reduce((s, x) => s + x, 0) / d.length;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1));
  const se = sd / Math.sqrt(d.length);
  assert(Math.abs(r.diff - mean) < 1e-12);
  assert(Math.abs(r.lo - (mean - 1.96 * se)) < 0.015, `lo ${r.lo} vs ${mean - 1.96 * se}`);
  assert(Math.abs(r.hi - (mean + 1.96 * se)) < 0.015, `hi ${r.hi} vs ${mean + 1.96 * se}`);
  assertEquals(pairedBootstrap(a, b, { resamples: 4000 }), r);
  const other = pairedBootstrap(a, b, { resamples: 4000, seed: 2 });
  assert(other.lo !== r.lo || other.hi !== r.hi, "another seed drew the same resamples");
  // A wider level widens the interval.
  const wide = pairedBootstrap(a, b, { resamples: 4000, level: 0.99 });
  assert(wide.lo < r.lo && wide.hi > r.hi);
});

Deno.test("pairedBootstrap: unpaired or bad options are errors; no items is a zero difference", () => {
  assertThrows(() => pairedBootstrap([1, 2], [1]), "2 scores against 1");
  assertThrows(() => pairedBootstrap([1], [1], { level: 1 }), "level 1 not in (0, 1)");
  assertThrows(() => pairedBootstrap([1], [1], { resamples: 0 }), "positive integer");
  assertEquals(pairedBootstrap([], []).diff, 0);
});
