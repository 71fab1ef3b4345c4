/**
 * What the Deno peer scripts share: their command line (`--groups a,b --tiny`), timing through the
 * bench harness, records on stdout (one JSON object per line) and notes on stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BenchCase, FULL_TIMING, type Group, runCases, TINY_TIMING } from "../harness.ts";
import { type BenchShapes, benchShapes } from "../shapes.ts";

/** A peer's parsed command line. */
export interface PeerArgs {
  groups: Group[];
  tiny: boolean;
  shapes: BenchShapes;
  /** Peer-specific `--device`, when given. */
  device?: string;
}

/** Parses `--groups kernels,step [--tiny] [--device X]`. */
export function peerArgs(): PeerArgs {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      groups: { type: "string", default: "kernels,step" },
      tiny: { type: "boolean", default: false },
      device: { type: "string" },
    },
  });
  return {
    groups: values.groups.split(",") as Group[],
    tiny: values.tiny,
    shapes: benchShapes(values.tiny),
    device: values.device,
  };
}

/** Prints a note the main bench shows and keeps in RESULTS.md. */
export function note(line: string): void {
  console.error(`note: ${line}`);
}

/** Runs the peer's cases of the selected groups and prints their records. */
export async function runPeerCases(
  cases: BenchCase[],
  impl: string,
  adapter: string,
  args: PeerArgs,
): Promise<void> {
  await runCases(
    cases.filter((c) => args.groups.includes(c.info.group)),
    impl,
    adapter,
    args.tiny ? TINY_TIMING : FULL_TIMING,
    (r) => console.log(JSON.stringify(r)),
    (c, e) => note(`${c.name} ${c.shape} failed: ${(e as Error).message}`),
  );
}

/** The description of the WebGPU adapter a peer gets by default (the one ours uses). */
export async function webgpuAdapterName(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  return adapter?.info.description || adapter?.info.device || "unknown WebGPU adapter";
}
