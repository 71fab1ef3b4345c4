/**
 * Reader for aspect-based sentiment XML: MAMS ATSA (`aspectTerm term polarity from to`), MAMS ACSA
 * (`aspectCategory category polarity`) and SemEval-2014 Task 4 (sentence ids, `conflict` labels,
 * sentences without aspects, restaurants with both terms and categories). Every sentence is
 * validated; all problems are collected and reported together, each naming the file, the sentence
 * and what was expected.
 *
 * @module
 */
import { parseXml, type XmlNode, XmlReadError } from "./xml.ts";

/** Sentiment labels that ABSA files may carry. */
export const POLARITIES = ["positive", "negative", "neutral", "conflict"] as const;
/** One sentiment label. */
export type Polarity = typeof POLARITIES[number];

/** An opinion target span: `text.slice(from, to) === term`. */
export interface AspectTerm {
  term: string;
  polarity: Polarity;
  from: number;
  to: number;
}

/** An opinion about a category (e.g. "food"), with no span. */
export interface AspectCategory {
  category: string;
  polarity: Polarity;
}

/** One review sentence and its aspects. */
export interface AbsaSentence {
  /** The `id` attribute, or `#<index>` (0-based, in file order) where the file has none. */
  id: string;
  text: string;
  terms: AspectTerm[];
  categories: AspectCategory[];
}

/** Which member of the family a file is. */
export type AbsaFormat = "mams-atsa" | "mams-acsa" | "semeval2014";

/** A whole file. */
export interface AbsaDataset {
  file: string;
  format: AbsaFormat;
  sentences: AbsaSentence[];
}

/** What to do with `conflict` labels and aspect-less sentences (both kept by default). */
export interface ReadAbsaOptions {
  conflict?: "keep" | "drop";
  emptySentences?: "keep" | "drop";
}

/** One validation problem in one sentence. */
export interface AbsaProblem {
  file: string;
  sentenceId: string;
  message: string;
}

/** A file that parsed as XML but does not hold valid ABSA data; lists every problem found. */
export class AbsaFormatError extends Error {
  /** Builds the error from the problems (the message shows the first 20). */
  constructor(readonly file: string, readonly problems: AbsaProblem[]) {
    const shown = problems.slice(0, 20).map((p) => `  sentence ${p.sentenceId}: ${p.message}`);
    const more = problems.length > 20 ? [`  … and ${problems.length - 20} more`] : [];
    super(
      `${file}: ${problems.length} problem(s) in ABSA XML\n${[...shown, ...more].join("\n")}`,
    );
    this.name = "AbsaFormatError";
  }
}

export { XmlReadError };

const ARRAY_TAGS = ["sentence", "aspectTerm", "aspectCategory"] as const;

/** Reads and validates one ABSA XML file from disk. */
export async function readAbsaXml(
  path: string,
  options: ReadAbsaOptions = {},
): Promise<AbsaDataset> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new XmlReadError(path, "file not found");
    if (e instanceof TypeError) throw new XmlReadError(path, "the file is not valid UTF-8 text");
    throw e;
  }
  return parseAbsaXml(path, text, options);
}

/** Parses and validates ABSA XML held in memory; `file` is used in messages. */
export function parseAbsaXml(
  file: string,
  text: string,
  options: ReadAbsaOptions = {},
): AbsaDataset {
  const doc = parseXml(file, text, ARRAY_TAGS);
  const roots = Object.keys(doc).filter((k) => !k.startsWith("?") && k !== "#text");
  if (roots.length !== 1 || roots[0] !== "sentences") {
    const found = roots.length ? roots.map((r) => `<${r}>`).join(", ") : "none";
    throw new XmlReadError(file, `expected the root element <sentences>, found ${found}`);
  }
  const rootNode = doc.sentences;
  const nodes = isNode(rootNode) && Array.isArray(rootNode.sentence)
    ? rootNode.sentence as unknown[]
    : [];
  if (nodes.length === 0) throw new XmlReadError(file, "no <sentence> elements under <sentences>");

  const problems: AbsaProblem[] = [];
  const seenIds = new Set<string>();
  const sentences: AbsaSentence[] = [];
  nodes.forEach((node, index) => {
    const sentence = readSentence(file, node, index, problems);
    if (seenIds.has(sentence.id)) {
      problems.push({ file, sentenceId: sentence.id, message: "duplicate sentence id" });
    }
    seenIds.add(sentence.id);
    sentences.push(sentence);
  });
  if (problems.length) throw new AbsaFormatError(file, problems);

  const format = detectFormat(nodes, sentences);
  return { file, format, sentences: applyOptions(sentences, options) };
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readSentence(
  file: string,
  node: unknown,
  index: number,
  problems: AbsaProblem[],
): AbsaSentence {
  const el = isNode(node) ? node : {};
  const id = typeof el.id === "string" && el.id !== "" ? el.id : `#${index}`;
  const problem = (message: string) => problems.push({ file, sentenceId: id, message });
  let text = "";
  if (el.text === undefined) problem("missing <text> element");
  else if (typeof el.text !== "string") problem("<text> must hold plain text only");
  else text = el.text;

  const terms: AspectTerm[] = [];
  for (const [i, a] of children(el.aspectTerms, "aspectTerm").entries()) {
    const where = `aspectTerm ${i}`;
    const term = requireAttr(a, "term", where, problem);
    const polarity = readPolarity(a, where, problem);
    const from = readOffset(a, "from", where, problem);
    const to = readOffset(a, "to", where, problem);
    if (term === undefined || polarity === undefined || from === undefined || to === undefined) {
      continue;
    }
    if (to < from || to > text.length) {
      problem(
        `${where} "${term}": offsets from=${from} to=${to} lie outside the text ` +
          `(expected 0 ≤ from ≤ to ≤ ${text.length})`,
      );
    } else if (text.slice(from, to) !== term) {
      problem(
        `${where}: text[${from}:${to}] is "${text.slice(from, to)}" but term is "${term}" ` +
          `(expected the offsets to select the term)`,
      );
    } else terms.push({ term, polarity, from, to });
  }
  const categories: AspectCategory[] = [];
  for (const [i, a] of children(el.aspectCategories, "aspectCategory").entries()) {
    const where = `aspectCategory ${i}`;
    const category = requireAttr(a, "category", where, problem);
    const polarity = readPolarity(a, where, problem);
    if (category !== undefined && polarity !== undefined) categories.push({ category, polarity });
  }
  return { id, text, terms, categories };
}

function children(container: unknown, tag: string): XmlNode[] {
  if (!isNode(container)) return [];
  const list = container[tag];
  return Array.isArray(list) ? list.map((x) => (isNode(x) ? x : {})) : [];
}

function requireAttr(
  el: XmlNode,
  name: string,
  where: string,
  problem: (m: string) => void,
): string | undefined {
  const value = el[name];
  if (typeof value !== "string") {
    problem(`${where}: missing required attribute "${name}"`);
    return undefined;
  }
  return value;
}

function readPolarity(
  el: XmlNode,
  where: string,
  problem: (m: string) => void,
): Polarity | undefined {
  const value = requireAttr(el, "polarity", where, problem);
  if (value === undefined) return undefined;
  if (!(POLARITIES as readonly string[]).includes(value)) {
    problem(`${where}: unknown polarity "${value}" (expected one of ${POLARITIES.join(", ")})`);
    return undefined;
  }
  return value as Polarity;
}

function readOffset(
  el: XmlNode,
  name: "from" | "to",
  where: string,
  problem: (m: string) => void,
): number | undefined {
  const value = requireAttr(el, name, where, problem);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    problem(`${where}: attribute ${name}="${value}" is not a non-negative integer`);
    return undefined;
  }
  return Number(value);
}

function detectFormat(nodes: unknown[], sentences: AbsaSentence[]): AbsaFormat {
  const hasIds = nodes.some((n) => isNode(n) && typeof n.id === "string");
  const hasTerms = sentences.some((s) => s.terms.length > 0);
  const hasCategories = sentences.some((s) => s.categories.length > 0);
  if (hasIds || (hasTerms && hasCategories)) return "semeval2014";
  return hasCategories ? "mams-acsa" : "mams-atsa";
}

function applyOptions(sentences: AbsaSentence[], options: ReadAbsaOptions): AbsaSentence[] {
  let out = sentences;
  if (options.conflict === "drop") {
    out = out.map((s) => ({
      ...s,
      terms: s.terms.filter((a) => a.polarity !== "conflict"),
      categories: s.categories.filter((a) => a.polarity !== "conflict"),
    }));
  }
  if (options.emptySentences === "drop") {
    out = out.filter((s) => s.terms.length + s.categories.length > 0);
  }
  return out;
}
