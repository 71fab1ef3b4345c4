/**
 * PowerPoint (.pptx) into blocks, slide by slide in presentation order: the title placeholder as a
 * heading, other text boxes as paragraphs (body placeholders with several paragraphs as lists),
 * tables as rows, pictures with their alt text; `page` is the slide number.
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
  relationships,
  requirePart,
  tagOf,
  textOf,
} from "./ooxml.ts";
import type { DocumentBlock, ParsedDocument } from "./types.ts";
import { unzip } from "./zip.ts";

const PRESENTATION = "ppt/presentation.xml";

/** Reads a .pptx archive; `file` names it in skip reasons. */
export function readPptx(file: string, bytes: Uint8Array): ParsedDocument {
  const pkg: OfficePackage = { file, entries: unzip(file, bytes) };
  const presentation = requirePart(pkg, PRESENTATION);
  const rels = relationships(pkg, PRESENTATION);
  const slidePaths = findAll(presentation, "p:sldId")
    .map((s) => rels.get(attrOf(s, "r:id") ?? ""))
    .filter((p): p is string => p !== undefined);
  const blocks: DocumentBlock[] = [];
  slidePaths.forEach((path, i) => {
    const slide = requirePart(pkg, path);
    const tree = findAll(slide, "p:spTree")[0];
    if (tree) shapes(childrenOf(tree), i + 1, pkg, relationships(pkg, path), blocks);
  });
  const title = coreTitle(pkg) ?? blocks.find((b) => b.kind === "heading")?.text;
  return title ? { title, blocks } : { blocks };
}

function shapes(
  nodes: OrderedXmlNode[],
  page: number,
  pkg: OfficePackage,
  rels: Map<string, string>,
  blocks: DocumentBlock[],
): void {
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag === "p:sp") textShape(node, page, blocks);
    else if (tag === "p:pic") {
      const cNvPr = findFirst(node, "p:cNvPr") ?? {};
      const description = (attrOf(cNvPr, "descr") ?? attrOf(cNvPr, "title") ?? "").trim();
      const image = blipImage(pkg, rels, node, description);
      if (image) blocks.push({ kind: "image", text: description, page, image });
    } else if (tag === "p:graphicFrame") {
      const rows = findAll([node], "a:tr").map((tr) =>
        findAll(childrenOf(tr), "a:tc").map((tc) => clean(textOf(tc, "a:t"))).join(" | ")
      ).filter((r) => r.replace(/[\s|]/g, "") !== "");
      if (rows.length > 0) blocks.push({ kind: "table", text: rows.join("\n"), page });
    } else if (tag === "p:grpSp") shapes(childrenOf(node), page, pkg, rels, blocks);
  }
}

function textShape(sp: OrderedXmlNode, page: number, blocks: DocumentBlock[]): void {
  const body = findFirst(sp, "p:txBody");
  if (!body) return;
  const paragraphs = findAll(childrenOf(body), "a:p").map((p) => clean(textOf(p, "a:t")))
    .filter((t) => t !== "");
  if (paragraphs.length === 0) return;
  const ph = findFirst(sp, "p:ph");
  const type = ph ? (attrOf(ph, "type") ?? "body") : undefined;
  if (type === "title" || type === "ctrTitle") {
    blocks.push({ kind: "heading", text: paragraphs.join(" "), level: 2, page });
  } else if (type === "body" && paragraphs.length > 1) {
    blocks.push({ kind: "list", text: paragraphs.join("\n"), page });
  } else {
    for (const text of paragraphs) blocks.push({ kind: "paragraph", text, page });
  }
}

function clean(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
