/**
 * PDF into blocks through unpdf (PDF.js built for servers, no worker or canvas needed): text per
 * page, lines regrouped into paragraphs by their vertical gaps, and lines set in a clearly larger
 * font than the body read as headings (levels by rank of font size). Encrypted and corrupt files are skipped with a reason.
 *
 * @module
 */
import { extractTextItems, getDocumentProxy, getMeta, type StructuredTextItem } from "unpdf";
import { type DocumentBlock, DocumentSkipError, type ParsedDocument } from "./types.ts";

/** A line set at least this many times the body's font size is a heading. */
const HEADING_SCALE = 1.2;
/** A vertical gap over this many line heights starts a new paragraph. */
const PARAGRAPH_GAP = 1.6;

interface Line {
  text: string;
  y: number;
  size: number;
}

/** Reads a PDF's text per page; `file` names it in skip reasons. */
export async function readPdf(file: string, bytes: Uint8Array): Promise<ParsedDocument> {
  let pages: StructuredTextItem[][];
  let info: Record<string, unknown> = {};
  try {
    const pdf = await getDocumentProxy(bytes.slice(), { verbosity: 0 });
    info = (await getMeta(pdf)).info ?? {};
    pages = (await extractTextItems(pdf)).items;
    await pdf.cleanup();
  } catch (e) {
    const err = e as Error;
    if (err.name === "PasswordException") {
      throw new DocumentSkipError(file, "encrypted PDF (it needs a password)");
    }
    throw new DocumentSkipError(file, `corrupt PDF: ${err.message || err.name}`);
  }
  const lines = pages.map(toLines);
  const body = medianSize(lines.flat());
  const isHeading = (line: Line) =>
    line.size >= HEADING_SCALE * body && line.text.length <= 120 && /\p{L}/u.test(line.text);
  // Heading levels rank the heading font sizes: the largest is level 1, the next level 2, …
  const sizes = [...new Set(lines.flat().filter(isHeading).map((l) => Math.round(l.size * 2)))]
    .sort((a, b) => b - a);
  const blocks: DocumentBlock[] = [];
  lines.forEach((pageLines, p) => {
    let paragraph: Line[] = [];
    const flush = () => {
      if (paragraph.length > 0) {
        blocks.push({ kind: "paragraph", text: joinLines(paragraph), page: p + 1 });
      }
      paragraph = [];
    };
    for (const line of pageLines) {
      if (isHeading(line)) {
        flush();
        const level = Math.min(6, sizes.indexOf(Math.round(line.size * 2)) + 1);
        blocks.push({ kind: "heading", text: line.text, level, page: p + 1 });
        continue;
      }
      const prev = paragraph.at(-1);
      if (prev && Math.abs(prev.y - line.y) > PARAGRAPH_GAP * Math.max(prev.size, line.size)) {
        flush();
      }
      paragraph.push(line);
    }
    flush();
  });
  if (blocks.length === 0) {
    throw new DocumentSkipError(
      file,
      `no extractable text in ${pages.length} page(s) (a scanned PDF? no OCR is done)`,
    );
  }
  const meta = typeof info.Title === "string" ? info.Title.trim() : "";
  const title = meta || blocks.find((b) => b.kind === "heading")?.text;
  return title ? { title, blocks } : { blocks };
}

function toLines(items: StructuredTextItem[]): Line[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  let ended = true;
  for (const item of items) {
    const size = Math.abs(item.fontSize) || item.height || 1;
    const sameLine = current && !ended && Math.abs(current.y - item.y) <= 0.5 * size;
    if (!sameLine) {
      if (current && current.text.trim() !== "") lines.push(current);
      current = { text: "", y: item.y, size: 0 };
    }
    current!.text += item.str;
    if (item.str.trim() !== "") current!.size = Math.max(current!.size, size);
    ended = item.hasEOL;
  }
  if (current && current.text.trim() !== "") lines.push(current);
  return lines.map((l) => ({ ...l, text: l.text.replace(/\s+/g, " ").trim() }));
}

function medianSize(lines: Line[]): number {
  const sizes = lines.flatMap((l) => new Array<number>(l.text.length).fill(l.size));
  sizes.sort((a, b) => a - b);
  return sizes.length === 0 ? 1 : sizes[Math.floor(sizes.length / 2)];
}

function joinLines(lines: Line[]): string {
  let out = "";
  for (const { text } of lines) {
    if (out.endsWith("-") && /^\p{Ll}/u.test(text)) out = out.slice(0, -1) + text;
    else out += (out ? " " : "") + text;
  }
  return out;
}
