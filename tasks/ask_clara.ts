/**
 * `deno task ask:clara --checkpoint DIR --question "…" --doc "…" [--doc "…" …]`: compresses the
 * documents into memories and prints the generator's answer (CLaRa's
 * `generate_from_text(questions, documents)`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { answerFromMemories } from "./clara/answer.ts";
import { loadMemoryModel } from "./clara/memory_dir.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds } from "./clara/tokens.ts";

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
        "max-new-tokens": { type: "string", default: "24" },
      },
    });
    if (!v.checkpoint || !v.question) {
      throw new Error('usage: deno task ask:clara --checkpoint DIR --question "…" --doc "…" …');
    }
    const n = Number(v["max-new-tokens"]);
    if (!Number.isInteger(n) || n < 1) throw new Error("--max-new-tokens: expected an integer ≥ 1");
    console.log(await askClara(v.checkpoint, v.question, v.doc ?? [], n));
  } catch (e) {
    console.error(`ask:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
