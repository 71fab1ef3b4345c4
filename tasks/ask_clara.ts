/**
 * `deno task ask:clara --checkpoint DIR --question "…" --doc "…" [--doc "…" …]`: compresses the
 * documents into memories and prints the generator's answer (CLaRa's
 * `generate_from_text(questions, documents)`).
 * `deno task ask:clara --checkpoint E2E_DIR --corpus INDEX --question "…" [--k 5] [--json]`: the
 * e2e query reasoner retrieves the top k documents of an index:clara corpus, the generator
 * answers from their memories; prints the answer and the retrieved titles.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { answerFromMemories } from "./clara/answer.ts";
import { loadMemoryModel } from "./clara/memory_dir.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds } from "./clara/tokens.ts";
import { loadE2EModel } from "./clara/e2e_dir.ts";
import { corpusAnswers, corpusRankings, readCorpusIndex } from "./clara/corpus.ts";
import { CosineIndex } from "../core/retrieval/cosine_index.ts";

/** An answer from a corpus and the documents it was read from, best first. */
export interface CorpusAnswer {
  answer: string;
  retrieved: { row: number; id: string; title: string }[];
}

/** Retrieves the top `k` documents of `index` for `question` with an e2e model and answers. */
export async function askClaraCorpus(
  checkpoint: string,
  index: string,
  question: string,
  k = 5,
  maxNewTokens = 24,
): Promise<CorpusAnswer> {
  const corpus = await readCorpusIndex(index);
  await device.init();
  const { model, tokenizer } = await loadE2EModel(checkpoint);
  const search = new CosineIndex(corpus.means, corpus.n, corpus.dim);
  try {
    const prompt = [promptIds(tokenizer, question)];
    const ranks = await corpusRankings(model, search, prompt, Math.min(k, corpus.n), 1);
    const [answer] = await corpusAnswers(model, tokenizer, corpus, prompt, ranks, {
      k,
      batchSize: 1,
      maxNewTokens,
    });
    return { answer, retrieved: ranks[0].map((row) => ({ row, ...corpus.rows[row] })) };
  } finally {
    search.dispose();
    model.dispose();
  }
}

/** Answers `question` from `docs` with the model in `checkpoint`. */
export async function askClara(
  checkpoint: string,
  question: string,
  docs: readonly string[],
  maxNewTokens = 24,
): Promise<string> {
  if (docs.length === 0) throw new Error("ask:clara: give at least one --doc");
  await device.init();
  const { model, run, tokenizer } = await loadMemoryModel(checkpoint);
  try {
    const [ids] = await answerFromMemories(model, [{
      docs: docs.map((d) => documentIds(tokenizer, d, run.memory.docTokens)),
      prompt: promptIds(tokenizer, question),
    }], { eos: claraSpecial(tokenizer).sep, maxNewTokens, batchSize: 1 });
    return decodeAnswer(tokenizer, ids);
  } finally {
    model.dispose();
  }
}

if (import.meta.main) {
  try {
    const { values: v } = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        checkpoint: { type: "string" },
        question: { type: "string" },
        doc: { type: "string", multiple: true },
        corpus: { type: "string" },
        k: { type: "string", default: "5" },
        json: { type: "boolean", default: false },
        "max-new-tokens": { type: "string", default: "24" },
      },
    });
    if (!v.checkpoint || !v.question) {
      throw new Error(
        'usage: deno task ask:clara --checkpoint DIR --question "…" ' +
          '(--doc "…" … | --corpus INDEX [--k 5]) [--json]',
      );
    }
    const n = Number(v["max-new-tokens"]);
    if (!Number.isInteger(n) || n < 1) throw new Error("--max-new-tokens: expected an integer ≥ 1");
    if (v.corpus) {
      if (v.doc?.length) throw new Error("give --doc or --corpus, not both");
      const k = Number(v.k);
      if (!Number.isInteger(k) || k < 1 || k > 16) {
        throw new Error(`--k: expected an integer in 1…16, got "${v.k}"`);
      }
      const r = await askClaraCorpus(v.checkpoint, v.corpus, v.question, k, n);
      console.log(
        v.json
          ? JSON.stringify(r)
          : `${r.answer}\nretrieved: ${r.retrieved.map((d) => d.title || d.id).join(" | ")}`,
      );
    } else {
      const answer = await askClara(v.checkpoint, v.question, v.doc ?? [], n);
      console.log(v.json ? JSON.stringify({ answer }) : answer);
    }
  } catch (e) {
    console.error(`ask:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
