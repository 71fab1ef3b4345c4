/**
 * The one place that knows the XML library (npm:fast-xml-parser). It checks well-formedness first,
 * refuses DOCTYPE and entity declarations outright (so entity-expansion tricks cannot run), and
 * returns plain objects with attributes as strings.
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
} as const;

/** A parsed element: attributes and child elements by name, text under "#text". */
export type XmlNode = { [key: string]: unknown };

/**
 * Parses `text` as XML. `arrayTags` are always returned as arrays, even with one occurrence.
 * Attribute and text values stay strings (no number guessing).
 */
export function parseXml(file: string, text: string, arrayTags: readonly string[]): XmlNode {
  const body = checkedXml(file, text);
  const parser = new XMLParser({
    ...PARSER_OPTIONS,
    isArray: (tagName: string) => arrayTags.includes(tagName),
  });
  return parser.parse(body) as XmlNode;
}

/**
 * One element in document order: `{ [tag]: children, ":@"?: attributes }`, or a text node
 * `{ "#text": value }` (fast-xml-parser's `preserveOrder` shape).
 */
export type OrderedXmlNode = { [key: string]: unknown };

/**
 * Parses `text` as XML keeping the order of mixed children (what office documents need: runs,
 * tabs and drawings interleave). The same checks as {@linkcode parseXml}; values stay strings.
 */
export function parseXmlOrdered(file: string, text: string): OrderedXmlNode[] {
  const parser = new XMLParser({ ...PARSER_OPTIONS, preserveOrder: true });
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
