/**
 * Which reader a file gets: by extension, checked against the file's first bytes so that a file
 * whose content contradicts its extension (a zip named `.pdf`, a PNG named `.txt`) is skipped
 * with a reason instead of being fed to the wrong parser.
 *
 * @module
 */
import { DocumentSkipError } from "./types.ts";

/** A format this pipeline reads. */
export type DocumentFormat = "txt" | "md" | "html" | "pdf" | "docx" | "pptx" | "image";

const EXTENSIONS: Record<string, DocumentFormat> = {
  txt: "txt",
  text: "txt",
  md: "md",
  markdown: "md",
  html: "html",
  htm: "html",
  xhtml: "html",
  pdf: "pdf",
  docx: "docx",
  pptx: "pptx",
  png: "image",
  jpg: "image",
  jpeg: "image",
  webp: "image",
  gif: "image",
};

/** The lower-case extension of `path` without the dot ("" when none). */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/** The format `path`'s extension names, or undefined when no reader handles it. */
export function formatOfPath(path: string): DocumentFormat | undefined {
  return EXTENSIONS[extensionOf(path)];
}

/** What the first bytes look like. */
export type ContentKind = "pdf" | "zip" | "png" | "jpeg" | "gif" | "webp" | "binary" | "text";

/** Identifies content by its magic number; "text" when no NUL byte occurs in the first 8 KiB. */
export function sniffContent(bytes: Uint8Array): ContentKind {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 1024));
  if (head.includes("%PDF-")) return "pdf";
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06)) return "zip";
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (head.startsWith("GIF8")) return "gif";
  if (head.startsWith("RIFF") && head.slice(8, 12) === "WEBP") return "webp";
  return bytes.subarray(0, 8192).includes(0) ? "binary" : "text";
}

const EXPECTED: Record<DocumentFormat, readonly ContentKind[]> = {
  txt: ["text"],
  md: ["text"],
  html: ["text"],
  pdf: ["pdf"],
  docx: ["zip"],
  pptx: ["zip"],
  // An image whose header is broken sniffs as "binary"; the image reader names that failure.
  image: ["png", "jpeg", "gif", "webp", "binary"],
};

/** Throws a skip when `bytes` cannot be a file of `format`; names what the content looks like. */
export function checkContent(file: string, format: DocumentFormat, bytes: Uint8Array): void {
  if (bytes.length === 0) throw new DocumentSkipError(file, "empty file (0 bytes)");
  const kind = sniffContent(bytes);
  if (EXPECTED[format].includes(kind)) return;
  const ext = extensionOf(file);
  const looks = kind === "binary" ? "binary data" : kind === "text" ? "plain text" : `${kind} data`;
  throw new DocumentSkipError(
    file,
    `wrong extension: the content is ${looks}, not what .${ext} promises (${format})`,
  );
}

/** Decodes text as UTF-8 (dropping a BOM), falling back to Windows-1252 for legacy files. */
export function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "");
  } catch {
    return new TextDecoder("windows-1252").decode(bytes);
  }
}
