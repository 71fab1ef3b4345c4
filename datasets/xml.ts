/**
 * The one place that knows the XML library (npm:fast-xml-parser). It checks well-formedness first,
 * refuses DOCTYPE and entity declarations outright (so entity-expansion tricks cannot run), and
 * returns either an element tree in document order with each element's line number
 * ({@linkcode parseXml}) or the library's ordered nodes ({@linkcode parseXmlOrdered}); attribute
 * and text values stay strings.
 *
 * @module
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** An XML document that cannot be read; the message names the file and what went wrong. */
export class XmlReadError extends Error {
  /** Builds the error for `file` with a reason. */
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = "XmlReadError";
  }
}

const PARSER_OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  preserveOrder: true,
} as const;

/** An element: its name, attributes (strings), children in document order and 1-based line. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlChild[];
  line: number;
}

/** Character data (entities decoded, CDATA included) between elements. */
export interface XmlText {
  text: string;
}

/** What an element holds. */
export type XmlChild = XmlElement | XmlText;

/** Whether a child is an element (not text). */
export function isElement(child: XmlChild): child is XmlElement {
  return "name" in child;
}

const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

/**
 * One element in document order: `{ [tag]: children, ":@"?: attributes }`, or a text node
 * `{ "#text": value }` (fast-xml-parser's `preserveOrder` shape).
 */
export type OrderedXmlNode = { [key: string]: unknown };

/** An ordered node with the start offset fast-xml-parser records under `captureMetaData`. */
type MetaNode = OrderedXmlNode & { [META]?: { startIndex?: number } };

/**
 * Parses `text` as XML into its top-level elements (the `<?xml?>` declaration left out), each
 * element with its 1-based line. Attribute and text values stay strings (no number guessing).
 */
export function parseXml(file: string, text: string): XmlElement[] {
  const body = checkedXml(file, text);
  const parser = new XMLParser({ ...PARSER_OPTIONS, captureMetaData: true });
  const lineStarts = [0];
  for (let i = body.indexOf("\n"); i !== -1; i = body.indexOf("\n", i + 1)) lineStarts.push(i + 1);
  const lineOf = (index: number): number => {
    let lo = 0, hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const convert = (nodes: MetaNode[], parentLine: number): XmlChild[] =>
    nodes.flatMap((node): XmlChild[] => {
      if ("#text" in node) return [{ text: String(node["#text"]) }];
      const name = Object.keys(node).find((k) => k !== ":@");
      if (name === undefined || name.startsWith("?")) return [];
      const start = node[META]?.startIndex;
      const line = start === undefined ? parentLine : lineOf(start);
      const attributes = { ...(node[":@"] as Record<string, string> | undefined) };
      return [{ name, attributes, children: convert(node[name] as MetaNode[], line), line }];
    });
  return convert(parser.parse(body) as MetaNode[], 1).filter(isElement);
}

/**
 * Parses `text` as XML keeping the order of mixed children (what office documents need: runs,
 * tabs and drawings interleave). The same checks as {@linkcode parseXml}; values stay strings.
 */
export function parseXmlOrdered(file: string, text: string): OrderedXmlNode[] {
  const parser = new XMLParser(PARSER_OPTIONS);
  return parser.parse(checkedXml(file, text)) as OrderedXmlNode[];
}

function checkedXml(file: string, text: string): string {
  const body = text.replace(/^\uFEFF/, "");
  if (body.trim() === "") {
    throw new XmlReadError(file, "the file is empty (expected an XML document)");
  }
  if (body.includes("\u0000")) {
    throw new XmlReadError(file, "the file is binary, not XML text (it contains NUL bytes)");
  }
  if (!body.trimStart().startsWith("<")) {
    const head = JSON.stringify(body.trimStart().slice(0, 20));
    throw new XmlReadError(file, `not an XML file: expected it to start with '<', found ${head}`);
  }
  if (/<!ENTITY/i.test(body)) {
    throw new XmlReadError(
      file,
      "the document declares entities (<!ENTITY ...>); entity expansion is refused",
    );
  }
  if (/<!DOCTYPE/i.test(body)) {
    throw new XmlReadError(file, "the document has a DOCTYPE; DTDs are not allowed in data files");
  }
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new XmlReadError(file, `malformed XML at line ${line}, column ${col}: ${msg}`);
  }
  return body;
}
