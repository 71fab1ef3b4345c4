/**
 * What docx and pptx share: a zip of XML parts linked by relationship files. Reads a part as
 * ordered XML, resolves `r:id` relationships to part paths, and walks ordered nodes.
 *
 * @module
 */
import { type OrderedXmlNode, parseXmlOrdered, XmlReadError } from "../xml.ts";
import { DocumentSkipError, type EmbeddedImage } from "./types.ts";
import type { ZipEntries } from "./zip.ts";

/** An opened office package: its entries and the file name used in messages. */
export interface OfficePackage {
  file: string;
  entries: ZipEntries;
}

/** Parses the part at `path`; throws a skip naming the part when the package lacks it. */
export function requirePart(pkg: OfficePackage, path: string): OrderedXmlNode[] {
  const part = readPart(pkg, path);
  if (part === undefined) {
    throw new DocumentSkipError(pkg.file, `not an office document: no ${path}`);
  }
  return part;
}

/** Parses the part at `path`, or `undefined` when the package has none. */
export function readPart(pkg: OfficePackage, path: string): OrderedXmlNode[] | undefined {
  const bytes = pkg.entries[path];
  if (bytes === undefined) return undefined;
  try {
    return parseXmlOrdered(`${pkg.file}:${path}`, new TextDecoder().decode(bytes));
  } catch (e) {
    if (e instanceof XmlReadError) throw new DocumentSkipError(pkg.file, e.message);
    throw e;
  }
}

/** The element name of a node ("#text" for text). */
export function tagOf(node: OrderedXmlNode): string {
  for (const key of Object.keys(node)) if (key !== ":@") return key;
  return "";
}

/** The child nodes of an element ([] for text). */
export function childrenOf(node: OrderedXmlNode): OrderedXmlNode[] {
  const value = node[tagOf(node)];
  return Array.isArray(value) ? value as OrderedXmlNode[] : [];
}

/** An attribute value, or undefined. */
export function attrOf(node: OrderedXmlNode, name: string): string | undefined {
  const attrs = node[":@"] as Record<string, string> | undefined;
  return attrs?.[name];
}

/** The first descendant (depth first, the node itself included) with tag `tag`. */
export function findFirst(node: OrderedXmlNode, tag: string): OrderedXmlNode | undefined {
  if (tagOf(node) === tag) return node;
  for (const child of childrenOf(node)) {
    const hit = findFirst(child, tag);
    if (hit) return hit;
  }
  return undefined;
}

/** All descendants with tag `tag`, in document order (not descending into matches). */
export function findAll(nodes: OrderedXmlNode[], tag: string): OrderedXmlNode[] {
  const out: OrderedXmlNode[] = [];
  const visit = (n: OrderedXmlNode) => {
    if (tagOf(n) === tag) out.push(n);
    else childrenOf(n).forEach(visit);
  };
  nodes.forEach(visit);
  return out;
}

/** The concatenated text of every `textTag` element under `node`. */
export function textOf(node: OrderedXmlNode, textTag: string): string {
  return findAll([node], textTag).map((t) =>
    childrenOf(t).map((c) => String(c["#text"] ?? "")).join("")
  ).join("");
}

/** Relationship id → part path, for the part at `partPath` (its `_rels/…rels` sibling). */
export function relationships(pkg: OfficePackage, partPath: string): Map<string, string> {
  const slash = partPath.lastIndexOf("/");
  const dir = partPath.slice(0, slash + 1);
  const rels = readPart(pkg, `${dir}_rels/${partPath.slice(slash + 1)}.rels`);
  const map = new Map<string, string>();
  for (const rel of findAll(rels ?? [], "Relationship")) {
    const id = attrOf(rel, "Id");
    const target = attrOf(rel, "Target");
    if (id === undefined || target === undefined || attrOf(rel, "TargetMode") === "External") {
      continue;
    }
    map.set(id, resolvePath(dir, target));
  }
  return map;
}

/** Resolves a relationship target against the directory of its source part. */
export function resolvePath(dir: string, target: string): string {
  const parts = (target.startsWith("/") ? target.slice(1) : dir + target).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "..") out.pop();
    else if (p !== "." && p !== "") out.push(p);
  }
  return out.join("/");
}

/** The image a `<a:blip r:embed>` under `node` points at, with `description` as its alt text. */
export function blipImage(
  pkg: OfficePackage,
  rels: Map<string, string>,
  node: OrderedXmlNode,
  description: string,
): EmbeddedImage | undefined {
  const blip = findFirst(node, "a:blip");
  const id = blip && (attrOf(blip, "r:embed") ?? attrOf(blip, "r:link"));
  const path = id ? rels.get(id) : undefined;
  if (path === undefined) return undefined;
  const image: EmbeddedImage = { name: path, description };
  if (pkg.entries[path]) image.bytes = pkg.entries[path];
  return image;
}

/** `dc:title` from docProps/core.xml, when set. */
export function coreTitle(pkg: OfficePackage): string | undefined {
  const core = readPart(pkg, "docProps/core.xml");
  const title = core && findAll(core, "dc:title")[0];
  const text = title ? childrenOf(title).map((c) => String(c["#text"] ?? "")).join("").trim() : "";
  return text || undefined;
}
