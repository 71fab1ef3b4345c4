/**
 * What `deno task cluster` reads: JSON Lines (any field as the text, an optional label for
 * evaluation and optional facet fields; `docs:ingest`'s `raw_knowledge.jsonl` is one such file,
 * with `--label-field title` for its page titles), MAMS/SemEval XML (sentences, labelled by their
 * first aspect category, else their first term) and HotpotQA/2Wiki/MuSiQue JSON (questions,
 * labelled by their `type`). Errors name the file, line and field.
 *
 * @module
 */
import { readAbsaXml } from "../../datasets/absa_xml.ts";
import { readMultiHopJson } from "../../datasets/multihop_qa.ts";
import { decodeUtf8, InvalidUtf8Error } from "../../datasets/utf8.ts";

/** One text to cluster. */
export interface ClusterText {
  text: string;
  /** Reference label for evaluation, when the input has one. */
  label?: string;
  /** Facet values by facet name (from `--facet-field`s). */
  facets: Record<string, string>;
}

/** The input formats. */
export type InputFormat = "jsonl" | "absa-xml" | "qa-json";

/** How to read the input. */
export interface InputOptions {
  path: string;
  /** Default: by extension (.jsonl → jsonl, .xml → absa-xml, .json → qa-json). */
  format?: InputFormat;
  /** JSONL field holding the text (default "text"). */
  textField?: string;
  /** JSONL field holding the reference label (none by default). */
  labelField?: string;
  /** JSONL fields read as facets. */
  facetFields?: string[];
  /** Keep only texts whose label is one of the first N distinct labels (in file order). */
  firstLabels?: number;
  /** Keep the first N texts (after `firstLabels`). */
  limit?: number;
}

/** Detects the format from the extension; the error lists the known ones. */
export function formatOf(path: string, given?: string): InputFormat {
  if (given) {
    if (given === "jsonl" || given === "absa-xml" || given === "qa-json") return given;
    throw new Error(`--format ${given}: expected jsonl, absa-xml or qa-json`);
  }
  if (/\.jsonl$/i.test(path)) return "jsonl";
  if (/\.xml$/i.test(path)) return "absa-xml";
  if (/\.json$/i.test(path)) return "qa-json";
  throw new Error(`${path}: cannot tell the format from the extension; pass --format`);
}

/** Reads the input texts; throws naming the file (and line and field) on bad input. */
export async function readClusterInput(options: InputOptions): Promise<ClusterText[]> {
  const format = formatOf(options.path, options.format);
  let texts: ClusterText[];
  if (format === "jsonl") {
    let raw: string;
    try {
      raw = decodeUtf8(await Deno.readFile(options.path));
    } catch (e) {
      if (e instanceof InvalidUtf8Error) throw new Error(`${options.path}: ${e.message}`);
      if (e instanceof Deno.errors.NotFound) throw new Error(`${options.path}: file not found`);
      throw e;
    }
    texts = parseClusterJsonl(options.path, raw, options);
  } else if (format === "absa-xml") {
    texts = (await readAbsaXml(options.path)).sentences.map((s) => ({
      text: s.text,
      label: s.categories[0]?.category ?? s.terms[0]?.term,
      facets: {},
    }));
  } else {
    texts = (await readMultiHopJson(options.path)).map((q) => ({
      text: q.question,
      label: q.type,
      facets: {},
    }));
  }
  if (options.firstLabels !== undefined) {
    const keep = new Set<string>();
    for (const t of texts) {
      if (t.label !== undefined && keep.size < options.firstLabels) keep.add(t.label);
    }
    texts = texts.filter((t) => t.label !== undefined && keep.has(t.label));
  }
  if (options.limit !== undefined) texts = texts.slice(0, options.limit);
  if (texts.length === 0) throw new Error(`${options.path}: no texts to cluster`);
  return texts;
}

/** Parses JSON Lines; `file` names it in errors, which give the 1-based line and the field. */
export function parseClusterJsonl(
  file: string,
  raw: string,
  options: Pick<InputOptions, "textField" | "labelField" | "facetFields"> = {},
): ClusterText[] {
  const textField = options.textField ?? "text";
  const out: ClusterText[] = [];
  raw.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not a JSON line (${(e as Error).message})`);
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      throw new Error(`${where}: expected a JSON object, got ${JSON.stringify(line.slice(0, 40))}`);
    }
    const r = record as Record<string, unknown>;
    const text = r[textField];
    if (typeof text !== "string" || text.trim() === "") {
      throw new Error(
        `${where}: field "${textField}" must be a non-empty string (got ${describe(text)}); ` +
          `choose the text field with --text-field`,
      );
    }
    const item: ClusterText = { text, facets: {} };
    if (options.labelField !== undefined) {
      const label = r[options.labelField];
      if (typeof label !== "string" && typeof label !== "number") {
        throw new Error(
          `${where}: label field "${options.labelField}" must be a string or number (got ${
            describe(label)
          })`,
        );
      }
      item.label = String(label);
    }
    for (const facet of options.facetFields ?? []) {
      const value = r[facet];
      if (typeof value !== "string") {
        throw new Error(
          `${where}: facet field "${facet}" must be a string (got ${describe(value)})`,
        );
      }
      item.facets[facet] = value;
    }
    out.push(item);
  });
  return out;
}

function describe(value: unknown): string {
  return value === undefined ? "no such field" : JSON.stringify(value)?.slice(0, 40) ?? "?";
}

/**
 * The string to embed for each text: the text itself, or with `facets` the named facet values
 * (the facet `text` is the text itself) joined by newlines.
 */
export function embeddingInputs(
  texts: readonly ClusterText[],
  facets: readonly string[],
): string[] {
  if (facets.length === 0) return texts.map((t) => t.text);
  return texts.map((t, i) =>
    facets.map((f) => {
      if (f === "text") return t.text;
      const v = t.facets[f];
      if (v === undefined) {
        throw new Error(`text ${i + 1}: no facet "${f}" (read it with --facet-field ${f})`);
      }
      return v;
    }).join("\n")
  );
}
