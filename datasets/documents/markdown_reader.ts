/**
 * Markdown into blocks through the `marked` lexer (CommonMark + GFM tables): headings, paragraphs,
 * lists, tables as rows, code blocks as paragraphs; inline markup is reduced to its text, and
 * `![alt](src)` images become image blocks described by their alt text.
 *
 * @module
 */
import { marked, type Token, type Tokens } from "marked";
import type { DocumentBlock, ParsedDocument } from "./types.ts";

/** Splits Markdown into blocks. */
export function readMarkdown(text: string): ParsedDocument {
  const blocks: DocumentBlock[] = [];
  walk(marked.lexer(text.replace(/\r\n?/g, "\n")), blocks);
  const title = blocks.find((b) => b.kind === "heading" && b.level === 1)?.text;
  return title === undefined ? { blocks } : { title, blocks };
}

function walk(tokens: readonly Token[], blocks: DocumentBlock[]): void {
  for (const token of tokens) {
    switch (token.type) {
      case "heading": {
        const t = token as Tokens.Heading;
        blocks.push({ kind: "heading", text: inlineText(t.tokens, blocks), level: t.depth });
        break;
      }
      case "paragraph":
      case "text": {
        const t = token as Tokens.Paragraph;
        const text = inlineText(t.tokens ?? [], blocks).trim();
        if (text !== "") blocks.push({ kind: "paragraph", text });
        break;
      }
      case "list": {
        const items = (token as Tokens.List).items.map((item) => listItemText(item, blocks));
        blocks.push({ kind: "list", text: items.filter((i) => i !== "").join("\n") });
        break;
      }
      case "table": {
        const t = token as Tokens.Table;
        const rows = [t.header, ...t.rows].map((row) =>
          row.map((cell) => inlineText(cell.tokens, blocks).trim()).join(" | ")
        );
        blocks.push({ kind: "table", text: rows.join("\n") });
        break;
      }
      case "code": {
        const text = (token as Tokens.Code).text.trim();
        if (text !== "") blocks.push({ kind: "paragraph", text });
        break;
      }
      case "blockquote":
        walk((token as Tokens.Blockquote).tokens, blocks);
        break;
      default:
        break; // space, hr, raw html: no text of their own
    }
  }
}

function listItemText(item: Tokens.ListItem, blocks: DocumentBlock[]): string {
  const parts: string[] = [];
  for (const t of item.tokens) {
    if (t.type === "list") {
      parts.push(...(t as Tokens.List).items.map((sub) => listItemText(sub, blocks)));
    } else if ("tokens" in t && Array.isArray(t.tokens)) {
      parts.push(inlineText(t.tokens as Token[], blocks));
    } else if ("text" in t && typeof t.text === "string") parts.push(t.text);
  }
  return parts.map((p) => p.trim()).filter((p) => p !== "").join(" ");
}

/** The visible text of inline tokens; images are recorded as blocks and leave no text. */
function inlineText(tokens: readonly Token[], blocks: DocumentBlock[]): string {
  let out = "";
  for (const t of tokens) {
    if (t.type === "image") {
      const img = t as Tokens.Image;
      blocks.push({
        kind: "image",
        text: img.text,
        image: { name: img.href, description: img.text },
      });
    } else if (t.type === "br") out += " ";
    else if ("tokens" in t && Array.isArray(t.tokens) && t.tokens.length > 0) {
      out += inlineText(t.tokens as Token[], blocks);
    } else if ("text" in t && typeof t.text === "string") out += unescapeEntities(t.text);
  }
  return out;
}

const ENTITIES: Record<string, string> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#39;": "'",
};

function unescapeEntities(text: string): string {
  return text.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]);
}
