import assert from "node:assert/strict";
import { strToU8 } from "fflate";
import { chunkDocument } from "../datasets/documents/chunker.ts";
import { detectLanguage } from "../datasets/documents/language.ts";
import { readDocument } from "../datasets/documents/read_document.ts";
import { splitSentences } from "../datasets/documents/sentences.ts";
import { readPlainText } from "../datasets/documents/text_reader.ts";
import { DocumentSkipError, type ParsedDocument } from "../datasets/documents/types.ts";
import {
  brokenPng,
  HTML,
  makeDocx,
  makeEncryptedPdf,
  makePdf,
  makePptx,
  MARKDOWN,
  PNG_1X1,
} from "./docs_fixtures.ts";

const kinds = (doc: ParsedDocument) => doc.blocks.map((b) => `${b.kind}:${b.text}`);

Deno.test("PDF: text per page, larger fonts as headings, page numbers, metadata title", async () => {
  const doc = await readDocument("report.pdf", await makePdf());
  assert.equal(doc.title, "Harbour Report");
  assert.deepEqual(
    doc.blocks.map((b) => [b.kind, b.level ?? 0, b.page, b.text]),
    [
      ["heading", 1, 1, "Harbour Report"],
      ["paragraph", 0, 1, "The harbour of Norby opened in 1871. It was built by Ana Lind."],
      ["heading", 2, 2, "Traffic"],
      ["paragraph", 0, 2, "In 1901 the harbour handled 3,400 ships."],
    ],
  );
});

Deno.test("docx: title and heading styles, runs joined, list, table rows, picture with alt text", async () => {
  const doc = await readDocument("harbour.docx", makeDocx());
  assert.equal(doc.title, "Norby Harbour");
  assert.deepEqual(kinds(doc), [
    "heading:Norby Harbour",
    "heading:History",
    "paragraph:The harbour opened in 1871.",
    "paragraph:It was built by Ana Lind.",
    "list:Fish\nTimber",
    "image:Map of the harbour",
    "heading:Traffic",
    "table:Year | Ships\n1901 | 3,400",
  ]);
  assert.deepEqual(doc.blocks.filter((b) => b.kind === "heading").map((b) => b.level), [1, 1, 2]);
  const image = doc.blocks.find((b) => b.kind === "image")!.image!;
  assert.equal(image.name, "word/media/image1.png");
  assert.deepEqual(image.bytes, PNG_1X1);
});

Deno.test("pptx: slides in presentation order, slide numbers, titles, bullets, table, picture", async () => {
  const doc = await readDocument("deck.pptx", makePptx());
  assert.deepEqual(doc.blocks.map((b) => [b.page, b.kind, b.text]), [
    [1, "heading", "Ports of the North"],
    [1, "table", "Port | Opened\nNorby | 1871"],
    [2, "heading", "Norby"],
    [2, "list", "Deep water\nOpen all year"],
    [2, "image", "Photo of the pier"],
  ]);
  assert.equal(doc.blocks[4].image!.name, "ppt/media/image1.png");
  assert.ok(doc.blocks[4].image!.bytes);
});

Deno.test("HTML: drops script, style, nav, header, footer; keeps headings, lists, tables, images", async () => {
  const loaded: string[] = [];
  const doc = await readDocument("guide.html", strToU8(HTML), {
    loadImage: (src) => {
      loaded.push(src);
      return PNG_1X1;
    },
  });
  assert.equal(doc.title, "Norby Guide");
  assert.deepEqual(kinds(doc), [
    "heading:Norby",
    "paragraph:Norby is a port town & fishing village in the north.",
    "heading:Sights",
    "list:The old pier",
    "list:The lighthouse",
    "image:The lighthouse at dusk. Built in 1874.",
    "paragraph:Built in 1874.",
    "image:Harbour view",
    "table:Sight | Built\nLighthouse | 1874",
  ]);
  assert.deepEqual(loaded, ["pics/harbour.png"]);
  assert.deepEqual(doc.blocks[5].image!.bytes, PNG_1X1, "the data: URI is decoded");
  const all = doc.blocks.map((b) => b.text).join(" ");
  for (const dropped of ["script text", "About menu", "Site banner", "Copyright", "color"]) {
    assert.ok(!all.includes(dropped), `"${dropped}" should be dropped`);
  }
});

Deno.test("Markdown: headings, inline markup reduced to text, list, table, image alt", async () => {
  const doc = await readDocument("notes.md", strToU8(MARKDOWN));
  assert.equal(doc.title, "Norby Notes");
  assert.deepEqual(kinds(doc), [
    "heading:Norby Notes",
    "paragraph:Norby lies on the coast of the north.",
    "heading:Facts",
    "list:Founded in 1612\nPopulation 4,200",
    "table:Year | Ships\n1901 | 3,400",
    "image:A pier in fog",
  ]);
});

Deno.test("plain text: wikitext and stand-alone headings, lists, paragraphs", () => {
  const doc = readPlainText(
    "= Norby =\n\nNorby is a town.\nIt has a port.\n\nHistory\n\nFounded in 1612.\n\n" +
      "- fish\n- timber\n\n== Later ==\n\nIt grew.\n\n[12]\n[13]\n\n" +
      "+------+-------+\n| Year | Ships |\n+======+=======+\n| 1901 | 3,400 |\n+------+-------+",
  );
  assert.equal(doc.title, "Norby");
  assert.deepEqual(
    kinds(doc),
    [
      "heading:Norby",
      "paragraph:Norby is a town. It has a port.",
      "heading:History",
      "paragraph:Founded in 1612.",
      "list:fish\ntimber",
      "heading:Later",
      "paragraph:It grew.",
      "table:Year | Ships\n1901 | 3,400",
    ],
  );
  assert.deepEqual(doc.blocks.filter((b) => b.kind === "heading").map((b) => b.level), [1, 2, 2]);
});

Deno.test("broken, empty, unsupported and mislabelled files are skipped with a reason", async () => {
  const pdf = await makePdf();
  const cases: [string, Uint8Array, string][] = [
    ["bad.pdf", strToU8("%PDF-1.7\n1 0 obj garbage trailer"), "corrupt PDF"],
    ["locked.pdf", await makeEncryptedPdf(), "encrypted PDF (it needs a password)"],
    ["cut.docx", makeDocx().slice(0, 300), "corrupt or truncated zip"],
    [
      "plain.docx",
      (await import("fflate")).zipSync({ "a.txt": strToU8("x") }),
      "no word/document.xml",
    ],
    ["broken.png", brokenPng(), "corrupt image"],
    ["empty.txt", new Uint8Array(), "empty file"],
    ["blank.md", strToU8("   \n\n  "), "no text found"],
    ["photo.txt", PNG_1X1, "wrong extension: the content is png data"],
    ["archive.pdf", makeDocx(), "wrong extension: the content is zip data"],
    ["paper.html", pdf, "wrong extension"],
    ["data.xyz", strToU8("hello"), "unsupported format .xyz"],
  ];
  for (const [name, bytes, reason] of cases) {
    await assert.rejects(readDocument(name, bytes), (e: unknown) => {
      assert.ok(e instanceof DocumentSkipError, `${name}: ${e}`);
      assert.equal(e.file, name);
      assert.ok(e.reason.includes(reason), `${name}: expected "${reason}" in "${e.reason}"`);
      return true;
    });
  }
});

Deno.test("language detection by script and stop words", () => {
  assert.equal(
    detectLanguage("The harbour of the town was built in 1871 and it is still in use."),
    "en",
  );
  assert.equal(detectLanguage("这个港口建于1871年，至今仍在使用。"), "zh");
  assert.equal(
    detectLanguage("Гавань была построена в 1871 году и до сих пор используется."),
    "ru",
  );
  assert.equal(detectLanguage("この港は1871年に建設されました。"), "ja");
  assert.equal(
    detectLanguage("Der Hafen wurde 1871 gebaut und ist auch heute in Betrieb, das ist gut."),
    "de",
  );
  assert.equal(detectLanguage("Lorem ipsum dolor sit amet consectetur"), "other");
  assert.equal(detectLanguage("1234 5678"), "other");
});

Deno.test("sentences: abbreviations and initials do not split, citation marks stay attached", () => {
  assert.deepEqual(
    splitSentences("Mr. Smith met Dr. J. R. R. Tolkien in 1950.[1][2] He left. 他来了。她走了！"),
    ["Mr. Smith met Dr. J. R. R. Tolkien in 1950.[1][2]", "He left.", "他来了。", "她走了！"],
  );
});

Deno.test("chunker: token budget, heading boundaries, sentence overlap, stable offsets", () => {
  const sentence = (label: string, words: number) => `${label}${" w".repeat(words - 1)}.`;
  const doc: ParsedDocument = {
    title: "Doc",
    blocks: [
      { kind: "paragraph", text: [1, 2, 3, 4, 5].map((i) => sentence(`S${i}`, 9)).join(" ") },
      { kind: "heading", text: "Part B", level: 2 },
      { kind: "paragraph", text: sentence("B", 5) },
      { kind: "heading", text: "Chapter 2", level: 1 },
      { kind: "paragraph", text: sentence("C", 5) },
    ],
  };
  // One token per word and one for the full stop: each "SN" sentence is 10 tokens.
  const countTokens = (t: string) => t.split(" ").length + (t.match(/\./g)?.length ?? 0);
  const chunks = chunkDocument(doc, "file", { maxTokens: 25, overlap: 10, countTokens });
  assert.deepEqual(
    chunks.map((c) => [c.title, c.section, c.tokens, c.text.split(" ")[0], c.offset]),
    [
      ["Doc", "", 20, "S1", 0],
      ["Doc", "", 20, "S2", 20], // the overlap repeats S2
      ["Doc", "", 20, "S3", 40],
      ["Doc", "", 20, "S4", 60],
      ["Doc", "Part B", 6, "B", 107], // a heading starts a chunk; no overlap across it
      ["Chapter 2", "", 6, "C", 128],
    ],
  );
  assert.equal(chunks[1].text, `${sentence("S2", 9)} ${sentence("S3", 9)}`);
  assert.deepEqual(chunkDocument(doc, "file", { maxTokens: 25, overlap: 10, countTokens }), chunks);
  const noOverlap = chunkDocument(doc, "file", { maxTokens: 25, overlap: 0, countTokens });
  assert.deepEqual(noOverlap.map((c) => c.text.split(" ")[0]), ["S1", "S3", "S5", "B", "C"]);
  assert.throws(
    () => chunkDocument(doc, "f", { maxTokens: 25, overlap: 25, countTokens }),
    /overlap must be in \[0, chunk size 25\)/,
  );
});

Deno.test("chunker: a sentence longer than the budget is cut, also text without spaces", () => {
  const countTokens = (t: string) => [...t.replace(/ /g, "")].length;
  const doc: ParsedDocument = { blocks: [{ kind: "paragraph", text: "港".repeat(100) }] };
  const chunks = chunkDocument(doc, "f", { maxTokens: 30, overlap: 0, countTokens });
  assert.ok(chunks.length >= 4 && chunks.every((c) => c.tokens <= 30), JSON.stringify(chunks));
  assert.equal(chunks.map((c) => c.text).join(""), "港".repeat(100));
});
