/**
 * Readers for multi-hop QA JSON: HotpotQA (original schema `_id, question, answer,
 * supporting_facts, context, type, level`), 2WikiMultihopQA (same `context` and
 * `supporting_facts` shape) and MuSiQue (`paragraphs` with `is_supporting`), all mapped to one
 * {@linkcode MultiHopExample}; and per-token support masks aligned with the context tokens. An
 * example with a missing field, or a supporting fact that points at a paragraph or sentence the
 * example does not hold, is an error naming the file, the example's index and `_id`/`id` and the
 * field: examples are never silently shortened.
 *
 * @module
 */
import { decodeUtf8, InvalidUtf8Error } from "./utf8.ts";

/** Which schema an example came from. */
export type MultiHopSource = "hotpotqa" | "2wiki" | "musique";

/** A titled paragraph split into sentences (a MuSiQue paragraph is one sentence). */
export interface Paragraph {
  /** The paragraph's title (a Wikipedia page title in all three datasets). */
  title: string;
  /** The paragraph's sentences, in order; supporting facts index into this array. */
  sentences: string[];
}

/** One supporting sentence, by paragraph title and sentence index. */
export interface SupportingFact {
  /** {@linkcode Paragraph.title} of the paragraph holding the sentence. */
  title: string;
  /** 0-based index into that paragraph's {@linkcode Paragraph.sentences}. */
  sentenceIndex: number;
}

/** A question over several paragraphs, with the sentences that support the answer. */
export interface MultiHopExample {
  /** The example's `_id` (HotpotQA, 2Wiki) or `id` (MuSiQue). */
  id: string;
  /** Which schema the example was read from. */
  source: MultiHopSource;
  /** The question text. */
  question: string;
  /** The gold answer string. */
  answer: string;
  /** The context paragraphs, in file order (HotpotQA/2Wiki `context`, MuSiQue `paragraphs`). */
  paragraphs: Paragraph[];
  /** The sentences that support the answer; every one points at a sentence of `paragraphs`. */
  supportingFacts: SupportingFact[];
  /** HotpotQA/2Wiki `type` (bridge, comparison, …) when present. */
  type?: string;
  /** HotpotQA `level` when present. */
  level?: string;
}

/** A HotpotQA-schema record of `e` (what {@linkcode parseMultiHopJson} reads back as `e`). */
export function toHotpotRecord(e: MultiHopExample): Record<string, unknown> {
  return {
    _id: e.id,
    question: e.question,
    answer: e.answer,
    ...(e.type === undefined ? {} : { type: e.type }),
    ...(e.level === undefined ? {} : { level: e.level }),
    supporting_facts: e.supportingFacts.map((f) => [f.title, f.sentenceIndex]),
    context: e.paragraphs.map((p) => [p.title, p.sentences]),
  };
}

/** A file or example that does not follow its schema; names the file and example. */
export class MultiHopFormatError extends Error {
  /** Builds the error for `file`, example `where`, with a reason. */
  constructor(readonly file: string, where: string, reason: string) {
    super(`${file}: ${where}: ${reason}`);
    this.name = "MultiHopFormatError";
  }
}

/** Reads a JSON array (or JSON Lines) file of HotpotQA, 2Wiki or MuSiQue examples (strict UTF-8). */
export async function readMultiHopJson(path: string): Promise<MultiHopExample[]> {
  let text: string;
  try {
    text = decodeUtf8(await Deno.readFile(path));
  } catch (e) {
    if (e instanceof InvalidUtf8Error) throw new MultiHopFormatError(path, "file", e.message);
    throw e;
  }
  return parseMultiHopJson(path, text);
}

/** Parses multi-hop QA examples held in memory; `file` is used in messages. */
export function parseMultiHopJson(file: string, text: string): MultiHopExample[] {
  const trimmed = text.trim();
  let records: unknown[];
  if (trimmed.startsWith("[")) {
    try {
      records = JSON.parse(trimmed);
    } catch (e) {
      throw new MultiHopFormatError(file, "file", `not a JSON array (${(e as Error).message})`);
    }
  } else {
    records = [];
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        records.push(JSON.parse(line));
      } catch (e) {
        throw new MultiHopFormatError(
          file,
          `line ${i + 1}`,
          `not JSON or JSON Lines (${(e as Error).message})`,
        );
      }
    });
  }
  return records.map((r, i) => toExample(file, r, i));
}

/** `example 3 (_id "5a8b…")`: the example's place in the file and its id, when it has one. */
function exampleName(record: unknown, index: number): string {
  const r = (typeof record === "object" && record !== null ? record : {}) as Record<
    string,
    unknown
  >;
  const key = "paragraphs" in r ? "id" : "_id";
  const id = r[key];
  return typeof id === "string"
    ? `example ${index} (${key} ${JSON.stringify(id)})`
    : `example ${index}`;
}

function toExample(file: string, record: unknown, index: number): MultiHopExample {
  const fail = (reason: string): never => {
    throw new MultiHopFormatError(file, exampleName(record, index), reason);
  };
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return fail("expected an object");
  }
  const r = record as Record<string, unknown>;
  const str = (key: string): string =>
    typeof r[key] === "string" ? r[key] as string : fail(`missing string field "${key}"`);
  const optional = (key: string): string | undefined =>
    r[key] === undefined || typeof r[key] === "string"
      ? r[key] as string | undefined
      : fail(`field "${key}" is ${JSON.stringify(r[key])}, expected a string`);
  if ("paragraphs" in r) return musique(r, str, fail);

  const context = Array.isArray(r.context) ? r.context : fail('missing array field "context"');
  const paragraphs = context.map((p, j): Paragraph => {
    if (!Array.isArray(p) || typeof p[0] !== "string" || !Array.isArray(p[1])) {
      return fail(`context[${j}] is not [title, [sentences…]]`);
    }
    const k = p[1].findIndex((x: unknown) => typeof x !== "string");
    if (k !== -1) return fail(`context[${j}] ("${p[0]}") sentence ${k} is not a string`);
    return { title: p[0], sentences: p[1] };
  });
  const sentencesOf = new Map(paragraphs.map((p) => [p.title, p.sentences.length]));
  const facts = Array.isArray(r.supporting_facts)
    ? r.supporting_facts
    : fail('missing array field "supporting_facts"');
  const supportingFacts = facts.map((f, j): SupportingFact => {
    if (!Array.isArray(f) || typeof f[0] !== "string" || !Number.isInteger(f[1])) {
      return fail(`supporting_facts[${j}] is not [title, sentence index]`);
    }
    const count = sentencesOf.get(f[0]);
    if (count === undefined) {
      return fail(
        `supporting_facts[${j}] names paragraph "${f[0]}", which "context" does not hold`,
      );
    }
    if (f[1] < 0 || f[1] >= count) {
      return fail(
        `supporting_facts[${j}] points at sentence ${f[1]} of "${f[0]}", which has ${count} ` +
          `sentence(s)`,
      );
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
  const type = optional("type"), level = optional("level");
  if (type !== undefined) example.type = type;
  if (level !== undefined) example.level = level;
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
  /** Context token ids, all sentences concatenated. */
  ids: number[];
  /** 1 on tokens of supporting sentences, 0 elsewhere; same length as `ids`. */
  mask: number[];
  /** [start, end) token span of each sentence, in paragraph then sentence order. */
  spans: { title: string; sentenceIndex: number; start: number; end: number }[];
}

/**
 * Tokenizes each sentence as `"{title}: {sentence}"` (sentence trimmed) with `encode`, which must
 * not add special tokens, and concatenates; the mask is 1 exactly on supporting sentences.
 * Supporting facts that point at no sentence are ignored (the readers refuse examples with them).
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
