/**
 * Readers for multi-hop QA JSON: HotpotQA (original schema `_id, question, answer,
 * supporting_facts, context, type, level`), 2WikiMultihopQA (same `context` and
 * `supporting_facts` shape) and MuSiQue (`paragraphs` with `is_supporting`), all mapped to one
 * {@linkcode MultiHopExample}; and per-token support masks aligned with the context tokens.
 *
 * @module
 */

/** Which schema an example came from. */
export type MultiHopSource = "hotpotqa" | "2wiki" | "musique";

/** A titled paragraph split into sentences (a MuSiQue paragraph is one sentence). */
export interface Paragraph {
  title: string;
  sentences: string[];
}

/** One supporting sentence, by paragraph title and sentence index. */
export interface SupportingFact {
  title: string;
  sentenceIndex: number;
}

/** A question over several paragraphs, with the sentences that support the answer. */
export interface MultiHopExample {
  id: string;
  source: MultiHopSource;
  question: string;
  answer: string;
  paragraphs: Paragraph[];
  supportingFacts: SupportingFact[];
  /** HotpotQA/2Wiki `type` (bridge, comparison, …) when present. */
  type?: string;
  /** HotpotQA `level` when present. */
  level?: string;
}

/** A file or example that does not follow its schema; names the file and example. */
export class MultiHopFormatError extends Error {
  /** Builds the error for `file`, example `where`, with a reason. */
  constructor(readonly file: string, where: string, reason: string) {
    super(`${file}: ${where}: ${reason}`);
    this.name = "MultiHopFormatError";
  }
}

/** Reads a JSON array (or JSON Lines) file of HotpotQA, 2Wiki or MuSiQue examples. */
export async function readMultiHopJson(path: string): Promise<MultiHopExample[]> {
  return parseMultiHopJson(path, await Deno.readTextFile(path));
}

/** Parses multi-hop QA examples held in memory; `file` is used in messages. */
export function parseMultiHopJson(file: string, text: string): MultiHopExample[] {
  let records: unknown[];
  try {
    const trimmed = text.trim();
    records = trimmed.startsWith("[")
      ? JSON.parse(trimmed)
      : trimmed.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  } catch (e) {
    throw new MultiHopFormatError(file, "file", `not JSON or JSON Lines (${(e as Error).message})`);
  }
  return records.map((r, i) => toExample(file, r, i));
}

function toExample(file: string, record: unknown, index: number): MultiHopExample {
  const fail = (reason: string): never => {
    throw new MultiHopFormatError(file, `example ${index}`, reason);
  };
  if (typeof record !== "object" || record === null) return fail("expected an object");
  const r = record as Record<string, unknown>;
  const str = (key: string): string =>
    typeof r[key] === "string" ? r[key] as string : fail(`missing string field "${key}"`);
  if ("paragraphs" in r) return musique(r, str, fail);

  const context = Array.isArray(r.context) ? r.context : fail('missing array field "context"');
  const paragraphs = context.map((p, j): Paragraph => {
    if (!Array.isArray(p) || typeof p[0] !== "string" || !Array.isArray(p[1])) {
      return fail(`context[${j}] is not [title, [sentences…]]`);
    }
    return { title: p[0], sentences: p[1].map(String) };
  });
  const facts = Array.isArray(r.supporting_facts)
    ? r.supporting_facts
    : fail('missing array field "supporting_facts"');
  const supportingFacts = facts.map((f, j): SupportingFact => {
    if (!Array.isArray(f) || typeof f[0] !== "string" || !Number.isInteger(f[1])) {
      return fail(`supporting_facts[${j}] is not [title, sentence index]`);
    }
    return { title: f[0], sentenceIndex: f[1] };
  });
  const example: MultiHopExample = {
    id: str("_id"),
    source: "evidences" in r ? "2wiki" : "hotpotqa",
    question: str("question"),
    answer: str("answer"),
    paragraphs,
    supportingFacts,
  };
  if (typeof r.type === "string") example.type = r.type;
  if (typeof r.level === "string") example.level = r.level;
  return example;
}

function musique(
  r: Record<string, unknown>,
  str: (key: string) => string,
  fail: (reason: string) => never,
): MultiHopExample {
  const list = Array.isArray(r.paragraphs) ? r.paragraphs : fail('"paragraphs" is not an array');
  const paragraphs: Paragraph[] = [];
  const supportingFacts: SupportingFact[] = [];
  list.forEach((p, j) => {
    const title = p?.title;
    const body = p?.paragraph_text;
    if (typeof title !== "string" || typeof body !== "string") {
      fail(`paragraphs[${j}] needs string "title" and "paragraph_text"`);
    }
    paragraphs.push({ title, sentences: [body] });
    if (p.is_supporting === true) supportingFacts.push({ title, sentenceIndex: 0 });
  });
  return {
    id: str("id"),
    source: "musique",
    question: str("question"),
    answer: str("answer"),
    paragraphs,
    supportingFacts,
  };
}

/** Context token ids with a 1/0 mask over the tokens of supporting sentences. */
export interface SupportMask {
  ids: number[];
  mask: number[];
  /** [start, end) token span of each sentence, in paragraph then sentence order. */
  spans: { title: string; sentenceIndex: number; start: number; end: number }[];
}

/**
 * Tokenizes each sentence as `"{title}: {sentence}"` (sentence trimmed) with `encode`, which must
 * not add special tokens, and concatenates; the mask is 1 exactly on supporting sentences.
 * Supporting facts that point at no sentence are ignored (a few public samples have them).
 */
export function supportMask(
  example: MultiHopExample,
  encode: (text: string) => number[],
): SupportMask {
  const support = new Set(example.supportingFacts.map((f) => `${f.title}\u0000${f.sentenceIndex}`));
  const ids: number[] = [];
  const mask: number[] = [];
  const spans: SupportMask["spans"] = [];
  for (const p of example.paragraphs) {
    p.sentences.forEach((sentence, sentenceIndex) => {
      const piece = encode(`${p.title}: ${sentence.trim()}`);
      const on = support.has(`${p.title}\u0000${sentenceIndex}`) ? 1 : 0;
      spans.push({
        title: p.title,
        sentenceIndex,
        start: ids.length,
        end: ids.length + piece.length,
      });
      ids.push(...piece);
      for (let k = 0; k < piece.length; k++) mask.push(on);
    });
  }
  return { ids, mask, spans };
}
