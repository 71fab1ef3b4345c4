/**
 * `deno task latent-qa:cloze --from F.json --out CLOZE.json [--count 200] [--seed 7]`: writes a
 * HotpotQA-format file of synthesized cloze questions over the paragraphs of any HotpotQA, 2Wiki
 * or MuSiQue file, made as train:latent-qa's `--synthetic` questions are (one blanked sentence as
 * the supporting fact, among 9 distractor paragraphs). `eval:latent-qa --file CLOZE.json` then
 * asks whether a model reads: the answer is in the context word for word.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../core/io/atomic.ts";
import { readMultiHopJson, toHotpotRecord } from "../datasets/multihop_qa.ts";
import { synthesizeClozeQa } from "./latent_qa/synthetic.ts";

/** Parsed flags of latent-qa:cloze. */
export interface ClozeFileOptions {
  from: string;
  out: string;
  count: number;
  seed: number;
}

/** Parses the flags (see the module doc). */
export function parseClozeFileArgs(args: string[]): ClozeFileOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      from: { type: "string" },
      out: { type: "string" },
      count: { type: "string", default: "200" },
      seed: { type: "string", default: "7" },
    },
  });
  if (!v.from) throw new Error("--from: expected the QA file whose paragraphs are blanked");
  if (!v.out) throw new Error("--out: expected the file to write");
  const int = (name: "count" | "seed") => {
    const n = Number(v[name]);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${name}: expected a positive integer, got "${v[name]}"`);
    }
    return n;
  };
  return { from: v.from, out: v.out, count: int("count"), seed: int("seed") };
}

/** Writes the cloze file; returns how many questions it holds. */
export async function writeClozeFile(o: ClozeFileOptions): Promise<number> {
  const pool = await readMultiHopJson(o.from);
  const made = synthesizeClozeQa(pool, { count: o.count, seed: o.seed });
  if (made.length === 0) throw new Error(`${o.from}: no sentence with a date, number or name`);
  await writeJsonAtomic(o.out, made.map(toHotpotRecord), 0);
  return made.length;
}

if (import.meta.main) {
  try {
    const o = parseClozeFileArgs(Deno.args);
    console.log(`${await writeClozeFile(o)} cloze questions over ${o.from} → ${o.out}`);
  } catch (e) {
    console.error(`latent-qa:cloze: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
