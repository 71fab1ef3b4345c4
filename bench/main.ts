/**
 * `deno task bench [kernels|step|memory|retrieval …] [--json] [--write] [--tiny] [--no-peers]
 * [--breakdown]`
 *
 * Measures our kernels and training steps, then the peers (tfjs-webgpu, jax-js on WebGPU and
 * WASM, PyTorch on the CPU) on the same shapes in the same run. Prints a table with ours/peer
 * ratios, or one JSON record per line with `--json`; `--write` also writes bench/RESULTS.md.
 * `--breakdown` adds where the train:absa step's time goes (bench/breakdown.ts); the memory group
 * adds the process RSS over a run of train:absa steps (bench/rss.ts); the retrieval group times
 * cosine top-k over 10 k and 100 k memories on the GPU beside a CPU loop (bench/ours_retrieval.ts).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { device } from "../mod.ts";
import {
  type BenchCase,
  type BenchRecord,
  FULL_TIMING,
  type Group,
  GROUPS,
  runCases,
  TINY_TIMING,
} from "./harness.ts";
import { benchShapes } from "./shapes.ts";
import { kernelCases } from "./ours_kernels.ts";
import { stepCases } from "./ours_steps.ts";
import { PEERS, runPeer } from "./peers.ts";
import { cpuWins, formatTable, OURS, resultsMarkdown } from "./report.ts";
import { stepBreakdownSection } from "./breakdown.ts";
import { rssSection } from "./rss.ts";
import { CPU_LOOP, cpuRetrievalCases, retrievalCases } from "./ours_retrieval.ts";

const USAGE =
  "usage: deno task bench [kernels|step|memory|retrieval …] [--json] [--write] [--tiny] " +
  "[--no-peers] [--breakdown]";

function parseGroups(names: string[]): Group[] {
  for (const n of names) {
    if (!GROUPS.includes(n as Group)) throw new Error(`unknown group "${n}"\n${USAGE}`);
  }
  return names.length ? GROUPS.filter((g) => names.includes(g)) : [...GROUPS];
}

/** Our cases of the selected groups. */
export function ourCases(groups: Group[], tiny: boolean): BenchCase[] {
  const shapes = benchShapes(tiny);
  return [
    ...(groups.includes("kernels") ? kernelCases(shapes) : []),
    ...(groups.includes("step") ? stepCases(shapes, "step") : []),
    ...(groups.includes("memory") ? stepCases(shapes, "memory") : []),
    ...(groups.includes("retrieval") ? retrievalCases(tiny) : []),
  ];
}

async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      tiny: { type: "boolean", default: false },
      "no-peers": { type: "boolean", default: false },
      breakdown: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const groups = parseGroups(positionals);
  const records: BenchRecord[] = [];
  const notes: string[] = [];
  const emit = (r: BenchRecord) => {
    records.push(r);
    if (values.json) console.log(JSON.stringify(r));
    else console.error(`  ${r.impl.padEnd(14)} ${r.name} ${r.shape}: ${r.ms} ms`);
  };
  const note = (line: string) => {
    notes.push(line);
    console.error(`note: ${line}`);
  };

  const info = await device.init();
  await runCases(
    ourCases(groups, values.tiny),
    OURS,
    info.description,
    values.tiny ? TINY_TIMING : FULL_TIMING,
    emit,
    (c, e) => note(`ours: ${c.name} ${c.shape} failed: ${(e as Error).message}`),
  );
  if (groups.includes("retrieval")) {
    await runCases(
      cpuRetrievalCases(values.tiny),
      CPU_LOOP,
      "JS loop on the CPU (1 thread)",
      values.tiny ? TINY_TIMING : FULL_TIMING,
      emit,
      (c, e) => note(`${CPU_LOOP}: ${c.name} ${c.shape} failed: ${(e as Error).message}`),
    );
  }
  const peerGroups = groups.filter((g) => g !== "memory" && g !== "retrieval");
  if (!values["no-peers"] && peerGroups.length) {
    for (const peer of PEERS) await runPeer(peer, peerGroups, values.tiny, emit, note);
  }

  const sections: string[] = [];
  if (values.breakdown) {
    const text = await stepBreakdownSection(benchShapes(values.tiny).absa, values.tiny);
    console.error(text);
    sections.push(text);
  }
  if (groups.includes("memory")) {
    const text = await rssSection(benchShapes(values.tiny).absa, values.tiny ? 3 : 300);
    console.error(text);
    sections.push(text);
  }
  if (!values.json) {
    console.log(formatTable(records));
    for (const line of cpuWins(records)) console.log(line);
  }
  if (values.write) {
    const path = new URL("./RESULTS.md", import.meta.url);
    const command = ["deno task bench", ...Deno.args.filter((a) => a !== "--write")].join(" ");
    const text = resultsMarkdown(records, {
      date: new Date().toISOString().slice(0, 10),
      commit: await gitCommit(),
      command,
      notes,
      sections,
    });
    await Deno.writeTextFile(path, text);
    console.error(`wrote ${path.pathname}`);
  }
}

if (import.meta.main) await main();
