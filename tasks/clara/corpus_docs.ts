/**
 * The documents of a corpus to index (`index:clara --docs F.jsonl`): one JSON object a line with
 * a string `text` and optional string `id` and `title`; a document is read as `"title: text"`.
 *
 * @module
 */
import { jsonObjectLines } from "./stage_records.ts";

/** One corpus document. */
export interface IndexDocument {
  id: string;
  title: string;
  text: string;
}

/** Parses a docs JSONL file; errors name the file and line. */
export function parseIndexDocuments(file: string, text: string): IndexDocument[] {
  const docs = jsonObjectLines(file, text).map(({ line, value: r }, i) => {
    if (typeof r.text !== "string") {
      throw new Error(`${file}: line ${line}: expected a string field "text"`);
    }
    for (const key of ["id", "title"]) {
      if (r[key] !== undefined && typeof r[key] !== "string") {
        throw new Error(`${file}: line ${line}: field "${key}" must be a string`);
      }
    }
    return {
      id: (r.id as string | undefined) ?? `${i}`,
      title: (r.title as string | undefined) ?? "",
      text: r.text,
    };
  });
  if (docs.length === 0) throw new Error(`${file}: no documents`);
  return docs;
}

/** The text a document is compressed (and BM25-scored) as: `"title: text"`, or the text alone. */
export function corpusDocText(d: IndexDocument): string {
  return d.title ? `${d.title}: ${d.text}` : d.text;
}
