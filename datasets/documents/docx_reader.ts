/**
 * Word (.docx) into blocks: paragraphs with their heading level (from the paragraph style's name,
 * "Title" / "Heading N", or its outline level), numbered and bulleted paragraphs as lists, tables
 * as rows, and embedded pictures with their alt text (`wp:docPr descr`).
 *
 * @module
 */
import type { OrderedXmlNode } from "../xml.ts";
import {
  attrOf,
  blipImage,
  childrenOf,
  coreTitle,
  findAll,
  findFirst,
  type OfficePackage,
  readPart,
  relationships,
  requirePart,
  tagOf,
} from "./ooxml.ts";
import type { DocumentBlock, EmbeddedImage, ParsedDocument } from "./types.ts";
import { unzip } from "./zip.ts";

const DOCUMENT = "word/document.xml";
/** Run content that is not visible text. */
const SKIPPED = new Set(["w:del", "w:instrText", "w:pPr", "w:rPr", "w:delText", "w:fldChar"]);

/** Reads a .docx archive; `file` names it in skip reasons. */
export function readDocx(file: string, bytes: Uint8Array): ParsedDocument {
  const pkg: OfficePackage = { file, entries: unzip(file, bytes) };
  const document = requirePart(pkg, DOCUMENT);
  const rels = relationships(pkg, DOCUMENT);
  const styles = styleNames(readPart(pkg, "word/styles.xml") ?? []);
  const body = findAll(document, "w:body")[0];
  const blocks: DocumentBlock[] = [];
  const visit = (node: OrderedXmlNode) => {
    const tag = tagOf(node);
    if (tag === "w:p") paragraph(node, pkg, rels, styles, blocks);
    else if (tag === "w:tbl") table(node, blocks);
    else if (tag === "w:sdt" || tag === "w:sdtContent" || tag === "w:customXml") {
      childrenOf(node).forEach(visit);
    }
  };
  if (body) childrenOf(body).forEach(visit);
  const title = coreTitle(pkg) ?? blocks.find((b) => b.kind === "heading")?.text;
  return title ? { title, blocks } : { blocks };
}

function paragraph(
  p: OrderedXmlNode,
  pkg: OfficePackage,
  rels: Map<string, string>,
  styles: Map<string, string>,
  blocks: DocumentBlock[],
): void {
  const images: EmbeddedImage[] = [];
  const text = runText(p, (drawing) => {
    const docPr = findFirst(drawing, "wp:docPr") ?? findFirst(drawing, "v:shape");
    const description = (attrOf(docPr ?? {}, "descr") ?? attrOf(docPr ?? {}, "title") ?? "")
      .trim();
    const image = blipImage(pkg, rels, drawing, description);
    if (image) images.push(image);
  }).replace(/\s+/g, " ").trim();
  const props = findFirst(p, "w:pPr");
  const styleId = props && attrOf(findFirst(props, "w:pStyle") ?? {}, "w:val");
  const styleName = styleId ? (styles.get(styleId) ?? styleId) : "";
  const outline = props && attrOf(findFirst(props, "w:outlineLvl") ?? {}, "w:val");
  const headingMatch = /^heading\s*(\d)$/i.exec(styleName);
  const level = /^title$/i.test(styleName)
    ? 1
    : headingMatch
    ? Number(headingMatch[1])
    : outline !== undefined
    ? Number(outline) + 1
    : undefined;
  const isList = props !== undefined &&
    (findFirst(props, "w:numPr") !== undefined || /list/i.test(styleName));
  if (text !== "") {
    if (level !== undefined && level >= 1 && level <= 9) {
      blocks.push({ kind: "heading", text, level: Math.min(level, 6) });
    } else if (isList) {
      const last = blocks.at(-1);
      if (last?.kind === "list") last.text += `\n${text}`;
      else blocks.push({ kind: "list", text });
    } else blocks.push({ kind: "paragraph", text });
  }
  for (const image of images) blocks.push({ kind: "image", text: image.description, image });
}

/** Visible text of a paragraph or cell in order; drawings go to `onDrawing`. */
function runText(node: OrderedXmlNode, onDrawing: (drawing: OrderedXmlNode) => void): string {
  let out = "";
  for (const child of childrenOf(node)) {
    const tag = tagOf(child);
    if (tag === "#text" || SKIPPED.has(tag)) continue;
    if (tag === "w:t") out += childrenOf(child).map((c) => String(c["#text"] ?? "")).join("");
    else if (tag === "w:tab" || tag === "w:br" || tag === "w:cr") out += " ";
    else if (tag === "w:drawing" || tag === "w:pict") onDrawing(child);
    else out += runText(child, onDrawing);
  }
  return out;
}

function table(tbl: OrderedXmlNode, blocks: DocumentBlock[]): void {
  const rows = findAll(childrenOf(tbl), "w:tr").map((tr) =>
    findAll(childrenOf(tr), "w:tc").map((tc) =>
      findAll(childrenOf(tc), "w:p").map((p) => runText(p, () => {})).join(" ")
        .replace(/\s+/g, " ").trim()
    )
  ).filter((cells) => cells.some((c) => c !== ""));
  if (rows.length > 0) {
    blocks.push({
      kind: "table",
      text: rows.map((r) => r.join(" | ")).join("\n"),
    });
  }
}

/** styleId → style name from word/styles.xml. */
function styleNames(styles: OrderedXmlNode[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const style of findAll(styles, "w:style")) {
    const id = attrOf(style, "w:styleId");
    const name = attrOf(findFirst(style, "w:name") ?? {}, "w:val");
    if (id !== undefined && name !== undefined) map.set(id, name);
  }
  return map;
}
