/**
 * `deno task index:clara --checkpoint DIR --docs F.jsonl --out INDEX`: compresses a corpus once
 * (with the compressor of a stage-2 or an e2e directory)
 * into `INDEX.safetensors` (`memories` f32 [N, l_max, D], each document's l memory vectors first
 * and zeros after; `lengths` i32 [N]) and `INDEX.jsonl` (one `{"row", "id", "title", "l"}` per
 * document), for retrieval over frozen memories in the next stage. A docs line is a JSON object
 * with a string `text` and optional `id` and `title` (docs:ingest's `raw_knowledge.jsonl` is
 * one); a document is compressed as `"title: text"`. Documents with the same l share a batch, so
 * every document gets exactly its own l.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { noGrad } from "../core/autograd.ts";
import { tidy } from "../core/scope.ts";
import { encodeSafetensors, writeFileAtomic } from "../core/io/safetensors.ts";
import { writeTextFileAtomic } from "../core/io/atomic.ts";
import { loadMemoryModelOf } from "./clara/e2e_dir.ts";
import { documentIds } from "./clara/tokens.ts";
import { corpusDocText, parseIndexDocuments } from "./clara/corpus_docs.ts";

/** What index:clara wrote. */
export interface IndexSummary {
  documents: number;
  maxMemoryTokens: number;
  dim: number;
  files: string[];
}

/** Compresses the documents of `docsFile` with the model in `checkpoint` into `out`.* files. */
export async function indexClara(
  checkpoint: string,
  docsFile: string,
  out: string,
  batchSize = 16,
): Promise<IndexSummary> {
  const docs = parseIndexDocuments(docsFile, await Deno.readTextFile(docsFile));
  await device.init();
  const { model, run, tokenizer, dispose } = await loadMemoryModelOf(checkpoint);
  try {
    model.eval();
    const ids = docs.map((d) => documentIds(tokenizer, corpusDocText(d), run.memory.docTokens));
    const counts = ids.map((d) => model.memoryCount(d.length));
    const lMax = Math.max(...counts), dim = model.config.dim;
    const memories = new Float32Array(docs.length * lMax * dim);
    const byCount = new Map<number, number[]>();
    counts.forEach((l, i) => byCount.set(l, [...(byCount.get(l) ?? []), i]));
    for (const [l, rows] of byCount) {
      for (let s = 0; s < rows.length; s += batchSize) {
        const batch = rows.slice(s, s + batchSize);
        const memory = noGrad(() => tidy(() => model.compress(batch.map((i) => ids[i]), l)));
        const values = await memory.data();
        memory.dispose();
        batch.forEach((row, b) =>
          memories.set(values.subarray(b * l * dim, (b + 1) * l * dim), row * lMax * dim)
        );
      }
    }
    const bytes = encodeSafetensors({
      memories: {
        dtype: "F32",
        shape: [docs.length, lMax, dim],
        data: new Uint8Array(memories.buffer),
      },
      lengths: {
        dtype: "I32",
        shape: [docs.length],
        data: new Uint8Array(Int32Array.from(counts).buffer),
      },
    }, { format: "fast-clara-index/1", checkpoint, docs: docsFile });
    await writeFileAtomic(`${out}.safetensors`, bytes);
    await writeTextFileAtomic(
      `${out}.jsonl`,
      docs.map((d, row) => JSON.stringify({ row, id: d.id, title: d.title, l: counts[row] }))
        .join("\n") + "\n",
    );
    return {
      documents: docs.length,
      maxMemoryTokens: lMax,
      dim,
      files: [`${out}.safetensors`, `${out}.jsonl`],
    };
  } finally {
    dispose();
  }
}

if (import.meta.main) {
  try {
    const { values: v } = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        checkpoint: { type: "string" },
        docs: { type: "string" },
        out: { type: "string" },
        "batch-size": { type: "string", default: "16" },
      },
    });
    if (!v.checkpoint || !v.docs || !v.out) {
      throw new Error("usage: deno task index:clara --checkpoint DIR --docs F.jsonl --out INDEX");
    }
    const b = Number(v["batch-size"]);
    if (!Number.isInteger(b) || b < 1) throw new Error("--batch-size: expected an integer ≥ 1");
    console.log(JSON.stringify(await indexClara(v.checkpoint, v.docs, v.out, b)));
  } catch (e) {
    console.error(`index:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
