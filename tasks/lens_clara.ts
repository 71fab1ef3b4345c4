/**
 * `deno task lens:clara --checkpoint DIR --question "…" [--doc "…"] [--top 5] [--json]`: the
 * logit lens of a stage-3 (e2e) model. Each query embedding of the question (and, with `--doc`,
 * each memory vector of that document) goes through the LM head; its top-n vocabulary tokens are
 * printed as a table, tokens whose id is absent from the question's tokens marked with `*` —
 * what the reasoner "thinks about" beyond the words it was given.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { noGrad } from "../core/autograd.ts";
import { tidy } from "../core/scope.ts";
import type { Tensor } from "../core/tensor.ts";
import type { TextTokenizer } from "../datasets/tokenizer.ts";
import { loadE2EModel } from "./clara/e2e_dir.ts";
import type { ClaraE2E } from "./clara/e2e_model.ts";
import { documentIds, promptIds } from "./clara/tokens.ts";

const USAGE = 'usage: deno task lens:clara --checkpoint DIR --question "…" [--question "…" …] ' +
  '[--doc "…"] [--top 5] [--json]';

/** One vector's top tokens. */
export interface LensRow {
  /** "Q0", "Q1", … for query embeddings, "M0", … for memory vectors. */
  slot: string;
  tokens: { token: string; id: number; logit: number; absent: boolean }[];
}

/** The lens of one question. */
export interface LensReport {
  question: string;
  queries: LensRow[];
  /** The `--doc` memory vectors (when given). */
  memory?: LensRow[];
}

/** Top-n rows of logits [1, R, V] on the host. */
async function topTokens(
  logits: Tensor,
  tokenizer: TextTokenizer,
  question: Set<number>,
  top: number,
  prefix: string,
): Promise<LensRow[]> {
  const [, rows, v] = logits.shape;
  const data = await logits.data() as Float32Array;
  return Array.from({ length: rows }, (_, r) => {
    const row = data.subarray(r * v, (r + 1) * v);
    const ids = Array.from({ length: v }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, top);
    return {
      slot: `${prefix}${r}`,
      tokens: ids.map((id) => ({
        token: tokenizer.decode([id]),
        id,
        logit: row[id],
        absent: !question.has(id),
      })),
    };
  });
}

/** The lens of `question` (and of `doc`'s memory) under `model`. */
export async function lens(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  question: string,
  o: { top: number; doc?: string; docTokens: number },
): Promise<LensReport> {
  model.eval();
  const ids = new Set(tokenizer.encode(question, false));
  const q = noGrad(() =>
    tidy(() => model.lm.logits(model.queryEmbeddings([promptIds(tokenizer, question)])))
  );
  const report: LensReport = {
    question,
    queries: await topTokens(q, tokenizer, ids, o.top, "Q"),
  };
  q.dispose();
  if (o.doc !== undefined) {
    const doc = documentIds(tokenizer, o.doc, o.docTokens);
    const m = noGrad(() => tidy(() => model.lm.logits(model.lm.compress([doc]))));
    report.memory = await topTokens(m, tokenizer, ids, o.top, "M");
    m.dispose();
  }
  return report;
}

/** The table of a report; `*` marks tokens absent from the question. */
export function formatLens(r: LensReport): string {
  const table = (rows: LensRow[]) =>
    rows.map((row) =>
      `  ${row.slot.padEnd(4)} ${
        row.tokens.map((t) => `${t.token}${t.absent ? "*" : ""}`.padEnd(14)).join(" ")
      }`
    );
  return [
    `question: ${r.question}   (* = not among the question's tokens)`,
    ...table(r.queries),
    ...(r.memory ? ["  document memory:", ...table(r.memory)] : []),
  ].join("\n");
}

/** Parsed flags of lens:clara. */
export interface LensOptions {
  checkpoint: string;
  questions: string[];
  doc?: string;
  top: number;
  json: boolean;
}

/** Parses the flags; errors name the flag. */
export function parseLensArgs(args: string[]): LensOptions {
  const options = {
    checkpoint: { type: "string" },
    question: { type: "string", multiple: true },
    doc: { type: "string" },
    top: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  } as const;
  const { values: v } = parseArgs({ args, strict: true, options });
  if (!v.checkpoint || !v.question?.length) {
    throw new Error(`--checkpoint and --question are required\n${USAGE}`);
  }
  const top = Number(v.top);
  if (!Number.isInteger(top) || top < 1) {
    throw new Error(`--top: expected an integer ≥ 1, got "${v.top}"`);
  }
  return { checkpoint: v.checkpoint, questions: v.question, doc: v.doc, top, json: v.json };
}

if (import.meta.main) {
  try {
    const o = parseLensArgs(Deno.args);
    await device.init();
    const { model, run, tokenizer } = await loadE2EModel(o.checkpoint);
    const reports: LensReport[] = [];
    for (const question of o.questions) {
      reports.push(
        await lens(model, tokenizer, question, {
          top: o.top,
          doc: o.doc,
          docTokens: run.memoryRun.memory.docTokens,
        }),
      );
    }
    model.dispose();
    console.log(o.json ? JSON.stringify(reports) : reports.map(formatLens).join("\n\n"));
  } catch (e) {
    console.error(`lens:clara: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
