/**
 * One entry point for every format: checks that the content matches the extension, runs the
 * format's reader, and turns every way a file can fail (corrupt, encrypted, empty, unsupported)
 * into a {@linkcode DocumentSkipError} with a reason.
 *
 * @module
 */
import { readDocx } from "./docx_reader.ts";
import { checkContent, decodeText, extensionOf, formatOfPath } from "./formats.ts";
import { type ImageLoader, readHtml } from "./html_reader.ts";
import { checkImage } from "./image_check.ts";
import { readMarkdown } from "./markdown_reader.ts";
import { readPdf } from "./pdf_reader.ts";
import { readPptx } from "./pptx_reader.ts";
import { readPlainText } from "./text_reader.ts";
import { DocumentSkipError, type ParsedDocument } from "./types.ts";

/** Options for {@linkcode readDocument}. */
export interface ReadDocumentOptions {
  /** Loads an image an HTML page references by a relative `src` (default: none are loaded). */
  loadImage?: ImageLoader;
}

/** Reads `bytes` of the file `path` into blocks, or throws a `DocumentSkipError`. */
export async function readDocument(
  path: string,
  bytes: Uint8Array,
  options: ReadDocumentOptions = {},
): Promise<ParsedDocument> {
  const format = formatOfPath(path);
  if (format === undefined) {
    const ext = extensionOf(path);
    throw new DocumentSkipError(
      path,
      `unsupported format ${ext ? `.${ext}` : "(no extension)"} ` +
        "(read: txt, md, html, pdf, docx, pptx, png, jpg, webp, gif)",
    );
  }
  checkContent(path, format, bytes);
  let doc: ParsedDocument;
  try {
    switch (format) {
      case "txt":
        doc = readPlainText(decodeText(bytes));
        break;
      case "md":
        doc = readMarkdown(decodeText(bytes));
        break;
      case "html":
        doc = readHtml(decodeText(bytes), options.loadImage);
        break;
      case "pdf":
        doc = await readPdf(path, bytes);
        break;
      case "docx":
        doc = readDocx(path, bytes);
        break;
      case "pptx":
        doc = readPptx(path, bytes);
        break;
      case "image": {
        const info = checkImage(bytes);
        if ("error" in info) throw new DocumentSkipError(path, info.error);
        doc = {
          blocks: [{ kind: "image", text: "", image: { name: path, bytes, description: "" } }],
        };
        break;
      }
    }
  } catch (e) {
    if (e instanceof DocumentSkipError) throw e;
    throw new DocumentSkipError(path, `unreadable ${format} file: ${(e as Error).message}`);
  }
  if (!doc.blocks.some((b) => b.kind === "image" || b.text.trim() !== "")) {
    throw new DocumentSkipError(path, "no text found in the file (empty document)");
  }
  return doc;
}
