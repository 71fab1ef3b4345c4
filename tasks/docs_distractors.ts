/**
 * `deno task docs:distractors --in instruction.jsonl --out OUT.jsonl [--docs 5] [--pool 64]
 * [--seed 1] [--json]`: pads single-document instruction records (the offline synthesizer's
 * cloze questions) with BM25-hard distractors from the file's other documents, gold documents at
 * random places, so the instruct and e2e stages see a reader's real task: find the memory that
 * holds the answer.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../core/io/safetensors.ts";
import { readInstructionRecords } from "./clara/stage_records.ts";
import { addDistractors } from "./docs/distractors.ts";
import { positiveInt } from "./docs/flags.ts";

const USAGE = "usage: deno task docs:distractors --in instruction.jsonl --out OUT.jsonl " +
  "[--docs N (5)] [--pool N (64)] [--seed N (1)] [--json]";

/** What one invocation wrote. */
export interface DistractorsSummary {
  records: number;
  padded: number;
  docs: number;
  out: string;
}

/** Runs the command on `args`; `json` is the --json flag. */
export async function docsDistractors(
  args: string[],
): Promise<{ summary: DistractorsSummary; json: boolean }> {
  const { values } = parseArgs({
    args,
    options: {
      in: { type: "string" },
      out: { type: "string" },
      docs: { type: "string", default: "5" },
      pool: { type: "string", default: "64" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.in || !values.out) throw new Error(`--in and --out are required\n${USAGE}`);
  if (values.in === values.out) throw new Error("--out must differ from --in");
  const docs = positiveInt("--docs", values.docs, 2);
  const records = await readInstructionRecords(values.in);
  const padded = addDistractors(records, {
    docs,
    pool: positiveInt("--pool", values.pool),
    seed: positiveInt("--seed", values.seed, 0),
  });
  const slash = values.out.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(values.out.slice(0, slash), { recursive: true });
  const lines = padded.map((r) => JSON.stringify(r) + "\n").join("");
  await writeFileAtomic(values.out, new TextEncoder().encode(lines));
  return {
    summary: {
      records: records.length,
      padded: padded.filter((r, i) => r !== records[i]).length,
      docs,
      out: values.out,
    },
    json: values.json,
  };
}

if (import.meta.main) {
  try {
    const { summary: s, json } = await docsDistractors(Deno.args);
    console.log(
      json ? JSON.stringify(s) : `docs:distractors: ${s.records} records, ${s.padded} padded to ` +
        `${s.docs} documents → ${s.out}`,
    );
  } catch (e) {
    console.error(`docs:distractors: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
