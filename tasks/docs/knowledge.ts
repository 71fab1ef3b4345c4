/**
 * The line format of `raw_knowledge.jsonl`, shared by the ingest task that writes it and the
 * synthesize task that reads it, with a reader whose errors name the file and line.
 *
 * @module
 */
import type { Language } from "../../datasets/documents/language.ts";

/** An image attached to a chunk. */
export interface KnowledgeImage {
  /** Path of the extracted file relative to the ingest output directory (null: not embedded). */
  path: string | null;
  /** Name inside its document (`word/media/image1.png`, an `<img src>`) or the file itself. */
  name: string;
  /** Alt text or caption ("" when none). */
  description: string;
  /** Page or slide it sits on, when known. */
  page: number | null;
  /** 1-based position among the document's images. */
  index: number;
  width: number | null;
  height: number | null;
}

/** One line of `raw_knowledge.jsonl`. */
export interface KnowledgeRecord {
  /** 16 hex digits of SHA-256 over source, offset and text. */
  id: string;
  /** Path of the document relative to the ingest input directory. */
  source: string;
  title: string;
  section: string;
  page: number | null;
  lang: Language;
  text: string;
  images: KnowledgeImage[];
  /** Character offset of the chunk in the document's running text. */
  offset: number;
  /** GPT-2 tokens in `text`. */
  tokens: number;
}

/** Parses the lines of a knowledge JSONL file; `file` names it in errors. */
export function parseKnowledge(file: string, text: string): KnowledgeRecord[] {
  const records: KnowledgeRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not a JSON line (${(e as Error).message})`);
    }
    for (const key of ["id", "source", "text"]) {
      if (typeof r[key] !== "string") {
        throw new Error(`${where}: expected a string field "${key}" (a docs:ingest record)`);
      }
    }
    if (!Array.isArray(r.images ?? [])) throw new Error(`${where}: "images" is not an array`);
    records.push({
      id: r.id as string,
      source: r.source as string,
      title: typeof r.title === "string" ? r.title : "",
      section: typeof r.section === "string" ? r.section : "",
      page: typeof r.page === "number" ? r.page : null,
      lang: (typeof r.lang === "string" ? r.lang : "other") as Language,
      text: r.text as string,
      images: (r.images ?? []) as KnowledgeImage[],
      offset: typeof r.offset === "number" ? r.offset : 0,
      tokens: typeof r.tokens === "number" ? r.tokens : 0,
    });
  });
  return records;
}
