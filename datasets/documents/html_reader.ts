/**
 * HTML into blocks through htmlparser2's streaming parser: `<h1>`–`<h6>` headings, paragraphs,
 * list items, table rows (cells joined by " | "), `<img>` with its alt text and `<figcaption>`.
 * Scripts, styles, navigation, headers/footers and asides are dropped.
 *
 * @module
 */
import { Parser } from "htmlparser2";
import type { DocumentBlock, EmbeddedImage, ParsedDocument } from "./types.ts";

/** Elements whose whole subtree is not document text. */
const DROPPED = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "nav",
  "header",
  "footer",
  "aside",
  "iframe",
  "svg",
  "button",
  "select",
  "form",
  "head",
]);
const DROPPED_ROLES = new Set(["navigation", "banner", "contentinfo", "search"]);
/** Elements that end the current run of text. */
const BREAKS = new Set([
  "p",
  "div",
  "section",
  "article",
  "main",
  "blockquote",
  "pre",
  "br",
  "hr",
  "dd",
  "dt",
  "figure",
]);

/** Resolves an `<img src>` to its bytes (a data: URI is decoded here; others go to `load`). */
export type ImageLoader = (src: string) => Uint8Array | undefined;

/** Splits HTML into blocks; `loadImage` fetches the bytes of local `<img>` sources. */
export function readHtml(html: string, loadImage: ImageLoader = () => undefined): ParsedDocument {
  const blocks: DocumentBlock[] = [];
  let title = "";
  let inTitle = false;
  let dropDepth = 0;
  const stack: string[] = [];
  let text = "";
  let context: { kind: "paragraph" | "heading" | "list"; level?: number } = { kind: "paragraph" };
  let row: string[] | undefined;
  let cell: string | undefined;
  let rows: string[] = [];
  let lastImage: EmbeddedImage | undefined;
  let caption: string | undefined;

  const flush = () => {
    const t = text.replace(/\s+/g, " ").trim();
    text = "";
    if (t === "") return;
    if (caption !== undefined) {
      caption += (caption ? " " : "") + t;
      return;
    }
    if (context.kind === "heading") blocks.push({ kind: "heading", text: t, level: context.level });
    else if (context.kind === "list") blocks.push({ kind: "list", text: t });
    else blocks.push({ kind: "paragraph", text: t });
  };

  const parser = new Parser({
    onopentag(name, attrs) {
      if (name === "title") inTitle = true;
      if (dropDepth > 0 || DROPPED.has(name) || DROPPED_ROLES.has(attrs.role ?? "")) {
        if (!VOID.has(name)) {
          dropDepth++;
          stack.push(name);
        }
        return;
      }
      if (!VOID.has(name)) stack.push(name);
      if (/^h[1-6]$/.test(name)) {
        flush();
        context = { kind: "heading", level: Number(name[1]) };
      } else if (name === "li") {
        flush();
        context = { kind: "list" };
      } else if (name === "table") {
        flush();
        rows = [];
      } else if (name === "tr") row = [];
      else if (name === "td" || name === "th") cell = "";
      else if (name === "figcaption") {
        flush();
        caption = "";
      } else if (name === "img") {
        const src = attrs.src ?? "";
        const description = (attrs.alt ?? attrs.title ?? "").trim();
        const image: EmbeddedImage = { name: src, description };
        const bytes = src.startsWith("data:") ? decodeDataUri(src) : loadImage(src);
        if (bytes) image.bytes = bytes;
        lastImage = image;
        flush();
        blocks.push({ kind: "image", text: description, image });
      } else if (BREAKS.has(name)) flush();
    },
    ontext(data) {
      if (inTitle) title += data;
      if (dropDepth > 0) return;
      if (cell !== undefined) cell += data;
      else text += data;
    },
    onclosetag(name) {
      if (name === "title") inTitle = false;
      if (VOID.has(name)) return;
      const open = stack.lastIndexOf(name);
      if (open < 0) return;
      const closed = stack.splice(open);
      if (dropDepth > 0) {
        dropDepth = Math.max(0, dropDepth - closed.length);
        return;
      }
      if (name === "td" || name === "th") {
        row?.push((cell ?? "").replace(/\s+/g, " ").trim());
        cell = undefined;
      } else if (name === "tr") {
        if (row && row.some((c) => c !== "")) rows.push(row.join(" | "));
        row = undefined;
      } else if (name === "table") {
        if (rows.length > 0) blocks.push({ kind: "table", text: rows.join("\n") });
        rows = [];
      } else if (/^h[1-6]$/.test(name) || name === "li") {
        flush();
        context = { kind: "paragraph" };
      } else if (name === "figcaption") {
        flush();
        if (lastImage && caption) {
          lastImage.description = lastImage.description
            ? `${lastImage.description}. ${caption}`
            : caption;
          const block = blocks.findLast((b) => b.image === lastImage);
          if (block) block.text = lastImage.description;
        }
        if (caption) blocks.push({ kind: "paragraph", text: caption });
        caption = undefined;
      } else if (BREAKS.has(name)) flush();
    },
  }, { decodeEntities: true, lowerCaseTags: true });
  parser.end(html);
  flush();
  const docTitle = title.replace(/\s+/g, " ").trim() ||
    blocks.find((b) => b.kind === "heading" && b.level === 1)?.text;
  return docTitle ? { title: docTitle, blocks } : { blocks };
}

const VOID = new Set([
  "area",
  "base",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "link",
  "meta",
  "source",
  "track",
  "wbr",
]);

/** The bytes of a base64 or percent-encoded `data:` URI (undefined when malformed). */
export function decodeDataUri(uri: string): Uint8Array | undefined {
  const comma = uri.indexOf(",");
  if (comma < 0) return undefined;
  const meta = uri.slice(5, comma);
  const body = uri.slice(comma + 1);
  try {
    if (meta.endsWith(";base64")) {
      return Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    }
    return new TextEncoder().encode(decodeURIComponent(body));
  } catch {
    return undefined;
  }
}
