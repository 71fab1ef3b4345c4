/**
 * Plain text into blocks: paragraphs are separated by blank lines; `= Title =` / `== Section ==`
 * lines (the wikitext convention of many text dumps) and short stand-alone lines without final
 * punctuation are headings; runs of `-`, `*`, `•` or `1.` lines are lists; paragraphs drawn as
 * ASCII tables (`| a | b |`, `+---+`) are tables, one row per line.
 *
 * @module
 */
import type { DocumentBlock, ParsedDocument } from "./types.ts";

const WIKI_HEADING = /^(={1,6})\s*(.+?)\s*\1$/;
const LIST_ITEM = /^\s*(?:[-*•]|\d{1,3}[.)])\s+(.*)$/;
/** A line of an ASCII table that only draws its grid (`+----+`, `|====|`). */
const TABLE_RULE = /^[+|=:\s-]+$/;
/** A line of bare citation marks (`[12]`), left behind by dumps that dropped the notes. */
const MARKS_ONLY = /^(?:\[\d{1,4}\]\s*)+$/;
/** A stand-alone line this short without closing punctuation reads as a heading. */
const MAX_HEADING_CHARS = 80;

/** Splits plain text into headings, paragraphs and lists. */
export function readPlainText(text: string): ParsedDocument {
  const blocks: DocumentBlock[] = [];
  const paragraphs = text.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/);
  for (const raw of paragraphs) {
    const lines = raw.split("\n").map((l) => l.trim()).filter((l) =>
      l !== "" && !MARKS_ONLY.test(l)
    );
    if (lines.length === 0) continue;
    if (lines.every((l) => /^[|+]/.test(l))) {
      const rows = lines.filter((l) => !TABLE_RULE.test(l)).map((l) =>
        l.replace(/^\||\|$/g, "").split("|").map((c) => c.trim()).join(" | ")
      );
      if (rows.length > 0) blocks.push({ kind: "table", text: rows.join("\n") });
      continue;
    }
    let prose: string[] = [];
    let items: string[] = [];
    const flushProse = () => {
      if (prose.length > 0) blocks.push({ kind: "paragraph", text: prose.join(" ") });
      prose = [];
    };
    const flushItems = () => {
      if (items.length > 0) blocks.push({ kind: "list", text: items.join("\n") });
      items = [];
    };
    for (const line of lines) {
      const wiki = WIKI_HEADING.exec(line);
      const item = LIST_ITEM.exec(line);
      if (wiki) {
        flushProse();
        flushItems();
        blocks.push({ kind: "heading", text: wiki[2], level: wiki[1].length });
      } else if (item) {
        flushProse();
        items.push(item[1].trim());
      } else {
        flushItems();
        prose.push(line);
      }
    }
    if (prose.length === 1 && items.length === 0 && looksLikeHeading(prose[0])) {
      blocks.push({ kind: "heading", text: prose[0], level: 2 });
      prose = [];
    }
    flushProse();
    flushItems();
  }
  const title = blocks.find((b) => b.kind === "heading" && b.level === 1)?.text;
  return title === undefined ? { blocks } : { title, blocks };
}

function looksLikeHeading(line: string): boolean {
  return line.length <= MAX_HEADING_CHARS && /\p{L}/u.test(line) &&
    !/[.!?:;,。！？…)\]"]$/u.test(line);
}
