/**
 * A file cache of the frozen candidate memories stage 3 computes before training and before an
 * evaluation (`--memory-cache DIR`): runs that share the compressor and the questions — ablations
 * of the selection or τ from one stage-2 checkpoint — compress the candidates once. The file is
 * keyed by the candidates' token ids, the memory count and width; since the key cannot see the
 * weights, the first example is compressed again on every read and the cache is used only if it
 * gives the same memories, else it is rebuilt.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import {
  encodeSafetensors,
  readSafetensorsHost,
  writeFileAtomic,
} from "../../core/io/safetensors.ts";
import { type E2EExample, type HostMemories, hostMemories, hostMemoryOf } from "./e2e_data.ts";

/** Largest |difference| between a cached and a recomputed memory value still taken as equal. */
const SAME_COMPRESSOR_TOLERANCE = 1e-5;

/** The cache file for `examples` compressed to l memories of width d under `dir`. */
export function memoryCachePath(
  dir: string,
  examples: readonly E2EExample[],
  l: number,
  d: number,
): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ l, d, candidates: examples.map((e) => e.candidates) }));
  return `${dir}/memories-${hash.digest("hex").slice(0, 20)}.safetensors`;
}

function fromFile(
  bytes: Uint8Array,
  file: string,
  examples: readonly E2EExample[],
  l: number,
  d: number,
): HostMemories[] | null {
  const host = readSafetensorsHost(bytes, file);
  const m = host.tensors.memories, counts = host.tensors.counts;
  if (!m || !counts || counts.shape[0] !== examples.length) return null;
  const all = new Float32Array(m.data.slice().buffer);
  const n = new Int32Array(counts.data.slice().buffer);
  let at = 0;
  const out: HostMemories[] = [];
  for (let i = 0; i < examples.length; i++) {
    if (n[i] !== examples[i].candidates.length) return null;
    out.push(hostMemoryOf(all.slice(at, at + n[i] * l * d), n[i], l, d));
    at += n[i] * l * d;
  }
  return at === all.length ? out : null;
}

/**
 * {@linkcode hostMemories} through the cache in `dir` (created if missing); without `dir`, plain
 * hostMemories. `log` says whether the cache was read, rebuilt or written.
 */
export async function cachedHostMemories(
  model: MemoryLM,
  examples: readonly E2EExample[],
  docTokens: number,
  dir: string | undefined,
  log: (s: string) => void = () => {},
): Promise<HostMemories[]> {
  if (!dir || examples.length === 0) return hostMemories(model, examples, docTokens);
  const l = model.memoryCount(docTokens), d = model.config.dim;
  const file = memoryCachePath(dir, examples, l, d);
  let bytes: Uint8Array | null = null;
  try {
    bytes = await Deno.readFile(file);
  } catch {
    // not cached yet
  }
  if (bytes) {
    const cached = fromFile(bytes, file, examples, l, d);
    const [check] = await hostMemories(model, examples.slice(0, 1), docTokens);
    const same = cached !== null &&
      check.memory.every((v, i) => Math.abs(v - cached[0].memory[i]) <= SAME_COMPRESSOR_TOLERANCE);
    if (same) {
      log(`memories of ${examples.length} questions read from ${file}`);
      return cached;
    }
    log(`${file} was written by another compressor or is damaged: rebuilt`);
  }
  const fresh = await hostMemories(model, examples, docTokens);
  const all = new Float32Array(fresh.reduce((s, m) => s + m.memory.length, 0));
  let at = 0;
  for (const m of fresh) {
    all.set(m.memory, at);
    at += m.memory.length;
  }
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(
    file,
    encodeSafetensors({
      memories: { dtype: "F32", shape: [all.length], data: new Uint8Array(all.buffer) },
      counts: {
        dtype: "I32",
        shape: [fresh.length],
        data: new Uint8Array(Int32Array.from(fresh.map((m) => m.n)).buffer),
      },
    }, { format: "fast-clara-memory-cache/1", l: `${l}`, d: `${d}` }),
  );
  log(`memories of ${examples.length} questions written to ${file}`);
  return fresh;
}
