/**
 * Plain-text corpora for language-model pretraining: Wikipedia/WikiText dumps whose articles start
 * with a top-level `= Title =` line are split into one document per article; any other text file
 * is one document. Line endings are normalised and article text is kept as written.
 *
 * @module
 */

/** One document of a corpus. */
export interface TextDocument {
  /** Article title (the file name for files without article headers). */
  title: string;
  /** The article's text, without its title line. */
  text: string;
  /** File it came from. */
  source: string;
}

/** A top-level header `= Title =`; WikiText's sections are `= = Section = =` and stay in the text. */
const ARTICLE_HEADER = /^ ?= ([^=].*[^=]|[^=]) = ?$/;

/** Splits the text of `file` into its articles (or one document when it has no article header). */
export function splitArticles(file: string, text: string): TextDocument[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const docs: TextDocument[] = [];
  let title: string | null = null;
  let body: string[] = [];
  const close = () => {
    const joined = body.join("\n").trim();
    if (joined) docs.push({ title: title ?? basename(file), text: joined, source: file });
    body = [];
  };
  for (const line of lines) {
    const header = ARTICLE_HEADER.exec(line);
    if (header) {
      close();
      title = header[1].trim();
    } else body.push(line);
  }
  close();
  return docs;
}

/** Reads one text file as documents; the error names the file. */
export async function readTextCorpus(path: string): Promise<TextDocument[]> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(path));
  } catch (e) {
    throw new Error(`${path}: cannot read as UTF-8 text (${(e as Error).message})`);
  }
  const docs = splitArticles(path, text);
  if (docs.length === 0) throw new Error(`${path}: no text`);
  return docs;
}

function basename(path: string): string {
  return path.split("/").at(-1) ?? path;
}
