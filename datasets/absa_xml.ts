/**
 * Reader for aspect-based sentiment XML: MAMS ATSA (`aspectTerm term polarity from to`), MAMS ACSA
 * (`aspectCategory category polarity`) and SemEval-2014 Task 4 (sentence ids, `conflict` labels,
 * sentences without aspects, restaurants with both terms and categories). Every sentence is
 * validated against the format: every element must be one the format defines, in its place (or,
 * read with `lenient`, it is skipped with a warning). All problems are collected and reported
 * together, each naming the file, the XML line, the sentence id and what was expected. Files are
 * decoded as strict UTF-8.
 *
 * @module
 */
import { decodeUtf8, InvalidUtf8Error } from "./utf8.ts";
import { isElement, parseXml, type XmlElement, XmlReadError } from "./xml.ts";

/** Sentiment labels that ABSA files may carry. */
export const POLARITIES = ["positive", "negative", "neutral", "conflict"] as const;
/** One sentiment label. */
export type Polarity = typeof POLARITIES[number];

/** An opinion target span: `text.slice(from, to) === term`. */
export interface AspectTerm {
  /** The target words as written in the sentence, e.g. "battery life". */
  term: string;
  /** Sentiment towards the target. */
  polarity: Polarity;
  /** Start offset in the sentence text (UTF-16 code units, inclusive). */
  from: number;
  /** End offset in the sentence text (UTF-16 code units, exclusive). */
  to: number;
}

/** An opinion about a category (e.g. "food"), with no span. */
export interface AspectCategory {
  /** The category name as the file spells it, e.g. "food" or "staff". */
  category: string;
  /** Sentiment towards the category. */
  polarity: Polarity;
}

/** One review sentence and its aspects. */
export interface AbsaSentence {
  /** The `id` attribute, or `#<index>` (0-based, in file order) where the file has none. */
  id: string;
  /** The sentence, the content of its `<text>` element. */
  text: string;
  /** Aspect terms (`<aspectTerm>`), in file order; empty in ACSA files. */
  terms: AspectTerm[];
  /** Aspect categories (`<aspectCategory>`), in file order; empty in ATSA files. */
  categories: AspectCategory[];
}

/** Which member of the family a file is. */
export type AbsaFormat = "mams-atsa" | "mams-acsa" | "semeval2014";

/** A whole file. */
export interface AbsaDataset {
  /** Path (or name) of the file, as used in messages. */
  file: string;
  /** Format detected from the file's elements. */
  format: AbsaFormat;
  /** Sentences in file order, after {@linkcode ReadAbsaOptions} filtering. */
  sentences: AbsaSentence[];
  /**
   * Unknown or misplaced elements and stray text that were skipped because the file was read with
   * `lenient` (always empty otherwise: they are errors), one message each with line and sentence.
   */
  warnings: string[];
}

/** How to read a file; `conflict` labels and aspect-less sentences are kept by default. */
export interface ReadAbsaOptions {
  /** "drop" removes aspects labelled `conflict` (default "keep"). */
  conflict?: "keep" | "drop";
  /**
   * "drop" removes sentences left with no aspects, after `conflict` is applied (default "keep").
   */
  emptySentences?: "keep" | "drop";
  /**
   * Skip elements the format does not define (or that sit in the wrong place) and stray text,
   * recording each in {@linkcode AbsaDataset.warnings}, instead of refusing the file.
   */
  lenient?: boolean;
}

/** One validation problem, at an XML line, in a sentence (absent for problems outside any). */
export interface AbsaProblem {
  /** The file the problem is in. */
  file: string;
  /** 1-based XML line of the offending element. */
  line: number;
  /** {@linkcode AbsaSentence.id} of the sentence, when the problem is inside one. */
  sentenceId?: string;
  /** What is wrong and what was expected. */
  message: string;
}

function describeProblem(p: AbsaProblem): string {
  return `line ${p.line}${p.sentenceId === undefined ? "" : `, sentence ${p.sentenceId}`}: ` +
    p.message;
}

/** A file that parsed as XML but does not hold valid ABSA data; lists every problem found. */
export class AbsaFormatError extends Error {
  /** Builds the error from the problems (the message shows the first 20). */
  constructor(readonly file: string, readonly problems: AbsaProblem[]) {
    const shown = problems.slice(0, 20).map((p) => `  ${describeProblem(p)}`);
    const more = problems.length > 20 ? [`  … and ${problems.length - 20} more`] : [];
    super(
      `${file}: ${problems.length} problem(s) in ABSA XML\n${[...shown, ...more].join("\n")}`,
    );
    this.name = "AbsaFormatError";
  }
}

export { XmlReadError };

/** The child elements each element of the format may hold (`<text>` holds text only). */
const ALLOWED_CHILDREN: Record<string, string[]> = {
  sentences: ["sentence"],
  sentence: ["text", "aspectTerms", "aspectCategories"],
  aspectTerms: ["aspectTerm"],
  aspectCategories: ["aspectCategory"],
  aspectTerm: [],
  aspectCategory: [],
};
const PARENT_OF: Record<string, string> = Object.fromEntries(
  Object.entries(ALLOWED_CHILDREN).flatMap(([parent, kids]) => kids.map((k) => [k, parent])),
);

/** Where problems go while one file is read. */
interface ReadContext {
  file: string;
  lenient: boolean;
  problems: AbsaProblem[];
  warnings: string[];
}

/** Reads and validates one ABSA XML file from disk (strict UTF-8). */
export async function readAbsaXml(
  path: string,
  options: ReadAbsaOptions = {},
): Promise<AbsaDataset> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new XmlReadError(path, "file not found");
    throw e;
  }
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (e) {
    if (e instanceof InvalidUtf8Error) throw new XmlReadError(path, e.message);
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
  const roots = parseXml(file, text);
  if (roots.length !== 1 || roots[0].name !== "sentences") {
    const found = roots.length ? roots.map((r) => `<${r.name}>`).join(", ") : "none";
    throw new XmlReadError(file, `expected the root element <sentences>, found ${found}`);
  }
  const ctx: ReadContext = { file, lenient: options.lenient ?? false, problems: [], warnings: [] };
  const nodes = allowedChildren(ctx, roots[0], undefined);
  if (nodes.length === 0 && ctx.problems.length === 0) {
    throw new XmlReadError(file, "no <sentence> elements under <sentences>");
  }

  const seenIds = new Set<string>();
  const sentences: AbsaSentence[] = [];
  nodes.forEach((node, index) => {
    const sentence = readSentence(ctx, node, index);
    if (seenIds.has(sentence.id)) {
      ctx.problems.push({
        file,
        line: node.line,
        sentenceId: sentence.id,
        message: "duplicate sentence id",
      });
    }
    seenIds.add(sentence.id);
    sentences.push(sentence);
  });
  if (ctx.problems.length) throw new AbsaFormatError(file, ctx.problems);

  const format = detectFormat(nodes, sentences);
  return { file, format, sentences: applyOptions(sentences, options), warnings: ctx.warnings };
}

/**
 * The child elements of `el` that the format allows there. Anything else (an unknown element, a
 * known one in the wrong place, non-blank text) is a problem, or a warning when reading leniently.
 */
function allowedChildren(
  ctx: ReadContext,
  el: XmlElement,
  sentenceId: string | undefined,
): XmlElement[] {
  const allowed = ALLOWED_CHILDREN[el.name];
  const kept: XmlElement[] = [];
  const expected = allowed.length ? allowed.map((a) => `<${a}>`).join(", ") : "no content";
  for (const child of el.children) {
    let message: string;
    let line = el.line;
    if (!isElement(child)) {
      if (child.text.trim() === "") continue;
      message = `unexpected text ${JSON.stringify(snippet(child.text))} inside <${el.name}> ` +
        `(expected ${expected})`;
    } else if (allowed.includes(child.name)) {
      kept.push(child);
      continue;
    } else {
      line = child.line;
      message = child.name in PARENT_OF
        ? `misplaced element <${child.name}> inside <${el.name}> ` +
          `(it belongs inside <${PARENT_OF[child.name]}>)`
        : `unknown element <${child.name}> inside <${el.name}> (expected ${expected})`;
    }
    const problem: AbsaProblem = { file: ctx.file, line, sentenceId, message };
    if (ctx.lenient) ctx.warnings.push(`${ctx.file}: ${describeProblem(problem)} (skipped)`);
    else ctx.problems.push(problem);
  }
  return kept;
}

function snippet(text: string): string {
  const t = text.trim();
  return t.length > 40 ? `${t.slice(0, 40)}…` : t;
}

function readSentence(ctx: ReadContext, el: XmlElement, index: number): AbsaSentence {
  const id = el.attributes.id ? el.attributes.id : `#${index}`;
  const at = (line: number) => (message: string) =>
    ctx.problems.push({ file: ctx.file, line, sentenceId: id, message });
  const problem = at(el.line);
  const parts = allowedChildren(ctx, el, id);
  let text = "";
  const texts = parts.filter((c) => c.name === "text");
  if (texts.length === 0) problem("missing <text> element");
  else if (texts.length > 1) {
    problem(`${texts.length} <text> elements (lines ${texts.map((t) => t.line).join(", ")})`);
  } else if (texts[0].children.some(isElement)) {
    at(texts[0].line)("<text> must hold plain text only");
  } else text = texts[0].children.map((c) => (isElement(c) ? "" : c.text)).join("");

  const listed = (container: string) =>
    parts.filter((c) => c.name === container).flatMap((c) => allowedChildren(ctx, c, id));
  const terms: AspectTerm[] = [];
  for (const [i, a] of listed("aspectTerms").entries()) {
    allowedChildren(ctx, a, id);
    const where = `aspectTerm ${i}`;
    const problem = at(a.line);
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
  for (const [i, a] of listed("aspectCategories").entries()) {
    allowedChildren(ctx, a, id);
    const where = `aspectCategory ${i}`;
    const problem = at(a.line);
    const category = requireAttr(a, "category", where, problem);
    const polarity = readPolarity(a, where, problem);
    if (category !== undefined && polarity !== undefined) categories.push({ category, polarity });
  }
  return { id, text, terms, categories };
}

function requireAttr(
  el: XmlElement,
  name: string,
  where: string,
  problem: (m: string) => void,
): string | undefined {
  const value = el.attributes[name];
  if (value === undefined) {
    problem(`${where}: missing required attribute "${name}"`);
    return undefined;
  }
  return value;
}

function readPolarity(
  el: XmlElement,
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
  el: XmlElement,
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

function detectFormat(nodes: XmlElement[], sentences: AbsaSentence[]): AbsaFormat {
  const hasIds = nodes.some((n) => n.attributes.id !== undefined);
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
