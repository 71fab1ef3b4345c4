/**
 * Splits a parsed document into chunks of about `maxTokens` tokens on sentence boundaries (list
 * items and table rows count as sentences). A heading always starts a new chunk and names the
 * section of the chunks under it; consecutive chunks of one section share `overlap` tokens of
 * whole sentences. Each chunk knows its character offset in the document's running text, so its
 * id (hash of source, offset and text) is stable across runs.
 *
 * @module
 */
import { splitSentences } from "./sentences.ts";
import type { DocumentBlock, EmbeddedImage, ParsedDocument } from "./types.ts";

/** How to size chunks. */
export interface ChunkOptions {
  /** Target size in tokens (a chunk exceeds it only when one word does). */
  maxTokens: number;
  /** Tokens of trailing sentences repeated at the start of the next chunk of the same section. */
  overlap: number;
  /** Token count of a piece of text (the project tokenizer). */
  countTokens: (text: string) => number;
}

/** One chunk of a document. */
export interface DocumentChunk {
  /** The chunk's sentences: joined by " " within a block and by "\n" between blocks. */
  text: string;
  /** The level-1 heading above the chunk, else the document's title. */
  title: string;
  /** The path of headings below the title, joined by " > " ("" when none). */
  section: string;
  /** Page or slide of the chunk's first sentence. */
  page?: number;
  /** Character offset of the chunk's first sentence in the document's running text. */
  offset: number;
  /** Tokens in `text` by `countTokens` (sum over its sentences). */
  tokens: number;
  /** Images of "image" blocks met since the previous chunk. */
  images: EmbeddedImage[];
}

interface Unit {
  text: string;
  tokens: number;
  block: number;
  page?: number;
  offset: number;
}

/** Splits `doc` into chunks; `fallbackTitle` (e.g. the file name) is used when it has no title. */
export function chunkDocument(
  doc: ParsedDocument,
  fallbackTitle: string,
  options: ChunkOptions,
): DocumentChunk[] {
  if (!(options.maxTokens >= 8)) {
    throw new Error(`chunk size must be at least 8 tokens, got ${options.maxTokens}`);
  }
  if (!(options.overlap >= 0 && options.overlap < options.maxTokens)) {
    throw new Error(
      `overlap must be in [0, chunk size ${options.maxTokens}), got ${options.overlap}`,
    );
  }
  const chunks: DocumentChunk[] = [];
  const headings: string[] = [];
  let title = doc.title ?? fallbackTitle;
  let units: Unit[] = [];
  let images: EmbeddedImage[] = [];
  let offset = 0;
  let used = 0;

  const emit = (keepOverlap: boolean) => {
    if (units.length === 0 && images.length === 0) return;
    const text = units.map((u, i) =>
      (i === 0 ? "" : u.block === units[i - 1].block ? " " : "\n") + u.text
    )
      .join("");
    const chunk: DocumentChunk = {
      text,
      title,
      section: headings.filter((h) => h !== undefined && h !== "").join(" > "),
      offset: units[0]?.offset ?? offset,
      tokens: used,
      images,
    };
    const page = units[0]?.page;
    if (page !== undefined) chunk.page = page;
    chunks.push(chunk);
    images = [];
    let keep: Unit[] = [];
    if (keepOverlap && options.overlap > 0) {
      let sum = 0;
      for (let i = units.length - 1; i > 0; i--) {
        if (sum + units[i].tokens > options.overlap) break;
        sum += units[i].tokens;
        keep = units.slice(i);
      }
    }
    units = keep;
    used = keep.reduce((s, u) => s + u.tokens, 0);
  };

  doc.blocks.forEach((block, b) => {
    if (block.kind === "heading") {
      emit(false);
      const level = Math.max(1, Math.min(6, block.level ?? 2));
      if (level === 1) {
        title = block.text;
        headings.length = 0;
      } else if (level > 1) {
        headings.length = level - 2;
        headings[level - 2] = block.text;
      }
      offset += block.text.length + 1;
      return;
    }
    if (block.kind === "image") {
      if (block.image) images.push(block.image);
      return;
    }
    for (const piece of unitsOf(block, options)) {
      const unit: Unit = { ...piece, block: b, offset };
      if (block.page !== undefined) unit.page = block.page;
      offset += piece.text.length + 1;
      if (used + unit.tokens > options.maxTokens && units.length > 0) {
        emit(true);
        if (used + unit.tokens > options.maxTokens) [units, used] = [[], 0];
      }
      units.push(unit);
      used += unit.tokens;
    }
  });
  emit(false);
  return chunks;
}

/** The sentences (or items, or rows) of a block, each at most `maxTokens` long. */
function unitsOf(block: DocumentBlock, options: ChunkOptions): { text: string; tokens: number }[] {
  const pieces = block.kind === "paragraph"
    ? splitSentences(block.text)
    : block.text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return pieces.flatMap((text) => splitLong(text, options));
}

function splitLong(text: string, options: ChunkOptions): { text: string; tokens: number }[] {
  const tokens = options.countTokens(text);
  if (tokens <= options.maxTokens) return [{ text, tokens }];
  const parts = Math.ceil(tokens / options.maxTokens) + 1;
  const words = text.split(/\s+/);
  // Text without spaces (Chinese, Japanese) is cut by characters instead of words.
  const [pieces, glue] = words.length >= 2 * parts ? [words, " "] : [[...text], ""];
  const per = Math.ceil(pieces.length / parts);
  const out: { text: string; tokens: number }[] = [];
  for (let i = 0; i < pieces.length; i += per) {
    const piece = pieces.slice(i, i + per).join(glue);
    out.push(...splitLong(piece, options));
  }
  return out;
}
