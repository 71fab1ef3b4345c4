/**
 * The bench never rots: every case of ours runs once at tiny sizes (untimed) and yields a
 * well-formed record. Peers are left out (slow, and they need their npm packages).
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { device, poolStats } from "../mod.ts";
import { type BenchRecord, GROUPS, runCases, TINY_TIMING } from "../bench/harness.ts";
import { ourCases } from "../bench/main.ts";
import { cpuWins, formatTable, resultsMarkdown, speedup } from "../bench/report.ts";
import { breakdownMarkdown, measureBreakdown, stepBreakdownSection } from "../bench/breakdown.ts";
import { absaStepRunner } from "../bench/ours_absa_step.ts";
import { rssOverSteps } from "../bench/rss.ts";
import { benchShapes } from "../bench/shapes.ts";

gpuTest("every bench case of ours runs at tiny sizes and yields a well-formed record", async () => {
  const info = await device.init();
  const cases = ourCases([...GROUPS], true);
  const records: BenchRecord[] = [];
  const failures: string[] = [];
  const liveBefore = poolStats().liveBytes;
  await runCases(
    cases,
    "ours",
    info.description,
    TINY_TIMING,
    (r) => records.push(r),
    (c, e) => failures.push(`${c.name} ${c.shape}: ${(e as Error).message}`),
  );
  assertEquals(failures, []);
  assertEquals(records.length, cases.length);
  assertEquals(poolStats().liveBytes, liveBefore, "a disposed case leaves no live tensors");
  for (const r of records) {
    const what = `${r.group}/${r.name}`;
    assert(GROUPS.includes(r.group), `${what}: group`);
    assert(r.name.length > 0 && r.shape.length > 0, `${what}: name and shape`);
    assertEquals(r.impl, "ours");
    assertEquals(r.adapter, info.description);
    assertEquals(r.n, 1);
    assert(r.ms > 0 && r.min <= r.ms && r.ms <= r.max, `${what}: ms ${r.min} ≤ ${r.ms} ≤ ${r.max}`);
    const rates = [r.gflops, r.gbps, r.tokens_per_s].filter((x) => x !== undefined);
    assertEquals(rates.length, 1, `${what}: exactly one rate`);
    assert(rates[0]! > 0 && Number.isFinite(rates[0]), `${what}: rate ${rates[0]}`);
    assert(r.syncs_per_step! >= 1, `${what}: a run waits for the GPU at least once`);
    assert(r.peak_bytes! > 0, `${what}: peak bytes`);
    assert(JSON.parse(JSON.stringify(r)).ms === r.ms, `${what}: JSON round trip`);
  }
  const steps = records.filter((r) => r.group === "step");
  assertEquals(steps.map((r) => r.syncs_per_step), steps.map(() => 1));
  const table = formatTable(records);
  for (const r of records) assert(table.includes(r.name), `table lists ${r.name}`);
  const md = resultsMarkdown(records, { date: "d", commit: "c", command: "x", notes: ["n"] });
  assert(md.includes(info.description) && md.includes("| ours |"), "RESULTS.md names adapter");
});

Deno.test("speed ratios compare the same case, and CPU wins over every WebGPU path are named", () => {
  const rec = (impl: string, ms: number, shape = "8"): BenchRecord => ({
    group: "kernels",
    name: "matmul",
    impl,
    shape,
    ms,
    min: ms,
    max: ms,
    n: 5,
    adapter: "a",
  });
  const records = [
    rec("ours", 10),
    rec("tfjs-webgpu", 40),
    rec("jax-js-wasm", 5),
    rec("ours", 10, "16"),
    rec("pytorch-cpu", 20, "16"),
  ];
  assertEquals(speedup(records, records[1]), 4);
  assertEquals(speedup(records, records[4]), 2);
  assertEquals(speedup([records[1]], records[1]), undefined);
  const wins = cpuWins(records);
  assertEquals(wins.length, 1);
  assert(wins[0].includes("jax-js-wasm") && wins[0].includes("matmul 8"), wins[0]);
  assert(formatTable(records).includes("4.00×"), "table shows the ratio");
});

gpuTest("the step breakdown and the RSS report run at tiny sizes and count real work", async () => {
  await device.init();
  const shape = benchShapes(true).absa;
  const runner = absaStepRunner(shape);
  const b = await measureBreakdown("tiny", runner, 1, 1);
  runner.dispose();
  assert(b.dispatches > 50, `dispatches per step ${b.dispatches}`);
  assertEquals(b.bindGroups, b.dispatches, "one bind group per dispatch");
  assertEquals(b.syncs, 1, "the step reads its losses back once");
  assert(b.uniformBytes > 0 && b.uploadBytes > 0, "uniforms and the batch are uploaded");
  assert(b.wallMs > 0 && b.waitMs >= 0 && b.encodeMs > 0, "host times are measured");
  assertEquals(
    b.families.reduce((n, f) => n + f.calls, 0),
    b.dispatches,
    "the replay covers every dispatch of the step",
  );
  assert(b.families.some((f) => f.family === "matmul products"), "matmuls are a family");
  assert(breakdownMarkdown([b]).includes("| dispatches |"), "the table lists dispatches");
  const samples = await rssOverSteps(shape, 3);
  assertEquals(samples.map((s) => s.step), [1, 3]);
  assert(samples.every((s) => s.rssBytes > 0 && s.poolBytes > 0 && s.pipelines > 0), "samples");
});

gpuTest(
  "the breakdown section puts the step with fast paths off beside it: more dispatches there",
  async () => {
    await device.init();
    const text = await stepBreakdownSection(benchShapes(true).absa, true);
    assert(text.includes("| fast paths on | fast paths off |"), "both configurations are columns");
    const row = text.split("\n").find((l) => l.startsWith("| dispatches |"));
    const [on, off] = row!.split("|").slice(2, 4).map(Number);
    // Off, every product packs its B and every table gradient is a separate add.
    assert(off > on && on > 50, `dispatches on ${on}, off ${off}`);
    assert(text.includes("median of interleaved runs"), "interleaved medians are reported");
  },
);
