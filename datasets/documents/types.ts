/**
 * The shape every document reader returns: an ordered list of blocks (headings, paragraphs, list
 * items, table rows, images) with the page or slide they came from, and the reason a file is
 * skipped when it cannot be read.
 *
 * @module
 */

/** What a block holds. */
export type BlockKind = "heading" | "paragraph" | "list" | "table" | "image";

/** An image found inside a document (docx/pptx media, an HTML `<img>`, a standalone file). */
export interface EmbeddedImage {
  /** Its name inside the container (`word/media/image1.png`) or its `src`. */
  name: string;
  /** The image bytes; absent when the document only references an image it does not hold. */
  bytes?: Uint8Array;
  /** Alt text or caption ("" when there is none). */
  description: string;
}

/** One unit of document structure. */
export interface DocumentBlock {
  /** What the block holds, which decides how `text` is laid out. */
  kind: BlockKind;
  /**
   * Heading or paragraph text; for "list" one item per line; for "table" one row per line with
   * cells joined by " | "; for "image" its description.
   */
  text: string;
  /** Heading level, 1 (title) to 6. */
  level?: number;
  /** 1-based PDF page or pptx slide number. */
  page?: number;
  /** The image of an "image" block. */
  image?: EmbeddedImage;
}

/** A document read into blocks. */
export interface ParsedDocument {
  /** The document's own title (metadata, `<title>`, first heading) when it has one. */
  title?: string;
  /** The document's blocks in reading order. */
  blocks: DocumentBlock[];
}

/** A file that is skipped; `reason` says why in words a user can act on. */
export class DocumentSkipError extends Error {
  /** Builds the error for `file` with a reason. */
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = "DocumentSkipError";
  }
}
