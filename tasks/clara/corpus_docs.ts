/**
 * The documents of a corpus to index (`index:clara --docs F.jsonl`): one JSON object a line with
 * a string `text` and optional string `id` and `title`; a document is read as `"title: text"`.
 *
 * @module
 */

/** One corpus document. */
export interface IndexDocument {
  id: string;
  title: string;
  text: string;
}

/** Parses a docs JSONL file; errors name the file and line. */
export function parseIndexDocuments(file: string, text: string): IndexDocument[] {
  const docs: IndexDocument[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}: line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    if (typeof r?.text !== "string") {
      throw new Error(`${file}: line ${i + 1}: expected a string field "text"`);
    }
    for (const key of ["id", "title"]) {
      if (r[key] !== undefined && typeof r[key] !== "string") {
        throw new Error(`${file}: line ${i + 1}: field "${key}" must be a string`);
      }
    }
    docs.push({
      id: (r.id as string | undefined) ?? `${docs.length}`,
      title: (r.title as string | undefined) ?? "",
      text: r.text,
    });
  });
  if (docs.length === 0) throw new Error(`${file}: no documents`);
  return docs;
}

/** The text a document is compressed (and BM25-scored) as: `"title: text"`, or the text alone. */
export function corpusDocText(d: IndexDocument): string {
  return d.title ? `${d.title}: ${d.text}` : d.text;
}
