/**
 * Document fixtures built in code for the docs tests: a two-page PDF (pdf-lib), a docx and a pptx
 * zipped from XML (fflate), HTML, Markdown, and broken files of each kind.
 */
import { strToU8, zipSync } from "fflate";
import { PDFDocument, PDFHexString, StandardFonts } from "pdf-lib";

/** A valid 1×1 PNG. */
export const PNG_1X1: Uint8Array = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);

/** The PNG with its IHDR chunk name destroyed (signature intact). */
export function brokenPng(): Uint8Array {
  const bytes = PNG_1X1.slice();
  bytes.set(strToU8("XXXX"), 12);
  return bytes;
}

/** Two pages: a 24 pt title and body on page 1, an 18 pt heading and body on page 2. */
export async function makePdf(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle("Harbour Report");
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page1 = doc.addPage([400, 400]);
  page1.drawText("Harbour Report", { x: 20, y: 360, size: 24, font });
  page1.drawText("The harbour of Norby opened in 1871.", { x: 20, y: 320, size: 11, font });
  page1.drawText("It was built by Ana Lind.", { x: 20, y: 306, size: 11, font });
  const page2 = doc.addPage([400, 400]);
  page2.drawText("Traffic", { x: 20, y: 360, size: 18, font });
  page2.drawText("In 1901 the harbour handled 3,400 ships.", { x: 20, y: 320, size: 11, font });
  return await doc.save();
}

/**
 * A PDF whose trailer declares standard encryption with a user password that is not empty, so a
 * reader must ask for the password (pdf-lib cannot encrypt; the dictionary is written by hand).
 */
export async function makeEncryptedPdf(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.addPage([100, 100]).drawText("secret", { x: 10, y: 50, size: 10 });
  const ctx = doc.context;
  ctx.trailerInfo.Encrypt = ctx.register(ctx.obj({
    Filter: "Standard",
    V: 1,
    R: 2,
    P: -4,
    O: PDFHexString.of("11".repeat(32)),
    U: PDFHexString.of("22".repeat(32)),
  }));
  const id = PDFHexString.of("33".repeat(16));
  ctx.trailerInfo.ID = ctx.obj([id, id]);
  return await doc.save({ useObjectStreams: false });
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' +
  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ' +
  'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" ' +
  'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"';

function para(text: string, style?: string, list = false): string {
  const props = style || list
    ? `<w:pPr>${style ? `<w:pStyle w:val="${style}"/>` : ""}${
      list ? '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>' : ""
    }</w:pPr>`
    : "";
  return `<w:p>${props}<w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`;
}

/** A docx: title, two headings, prose, a bulleted list, a table and a picture with alt text. */
export function makeDocx(): Uint8Array {
  const drawing = `<w:p><w:r><w:drawing><wp:inline><wp:docPr id="1" name="Picture 1" ` +
    `descr="Map of the harbour"/><a:graphic><a:graphicData><a:blip r:embed="rIdImg"/>` +
    `</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>`;
  const table = `<w:tbl><w:tr><w:tc>${para("Year")}</w:tc><w:tc>${para("Ships")}</w:tc></w:tr>` +
    `<w:tr><w:tc>${para("1901")}</w:tc><w:tc>${para("3,400")}</w:tc></w:tr></w:tbl>`;
  const body = para("Norby Harbour", "Title") + para("History", "Heading1") +
    para("The harbour opened in 1871. ") + `<w:p><w:r><w:t>It was built </w:t></w:r>` +
    `<w:r><w:t>by Ana Lind.</w:t></w:r></w:p>` + para("Fish", undefined, true) +
    para("Timber", undefined, true) + drawing + para("Traffic", "Heading2") + table;
  return zipSync({
    "[Content_Types].xml": strToU8('<?xml version="1.0"?><Types/>'),
    "word/document.xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${body}</w:body></w:document>`,
    ),
    "word/styles.xml": strToU8(
      `<?xml version="1.0"?><w:styles ${W}>` +
        `<w:style w:styleId="Title"><w:name w:val="Title"/></w:style>` +
        `<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>` +
        `<w:style w:styleId="Heading2"><w:name w:val="heading 2"/></w:style></w:styles>`,
    ),
    "word/_rels/document.xml.rels": strToU8(
      `<?xml version="1.0"?><Relationships><Relationship Id="rIdImg" ` +
        `Type="image" Target="media/image1.png"/></Relationships>`,
    ),
    "word/media/image1.png": PNG_1X1,
  });
}

const P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" ' +
  'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ' +
  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';

function shape(type: string | undefined, paragraphs: string[]): string {
  const ph = type ? `<p:nvPr><p:ph type="${type}"/></p:nvPr>` : "<p:nvPr/>";
  return `<p:sp><p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/>${ph}</p:nvSpPr><p:txBody>` +
    paragraphs.map((t) => `<a:p><a:r><a:t>${t}</a:t></a:r></a:p>`).join("") +
    `</p:txBody></p:sp>`;
}

/**
 * A pptx whose presentation order (slide2.xml first) differs from its file names: slide 1 has a
 * title and a table, slide 2 a title, bullets and a picture with alt text.
 */
export function makePptx(): Uint8Array {
  const slide = (content: string) =>
    strToU8(
      `<?xml version="1.0"?><p:sld ${P}><p:cSld><p:spTree>${content}</p:spTree></p:cSld></p:sld>`,
    );
  const table = `<p:graphicFrame><a:graphic><a:graphicData><a:tbl>` +
    `<a:tr><a:tc><a:txBody><a:p><a:r><a:t>Port</a:t></a:r></a:p></a:txBody></a:tc>` +
    `<a:tc><a:txBody><a:p><a:r><a:t>Opened</a:t></a:r></a:p></a:txBody></a:tc></a:tr>` +
    `<a:tr><a:tc><a:txBody><a:p><a:r><a:t>Norby</a:t></a:r></a:p></a:txBody></a:tc>` +
    `<a:tc><a:txBody><a:p><a:r><a:t>1871</a:t></a:r></a:p></a:txBody></a:tc></a:tr>` +
    `</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`;
  const pic = `<p:pic><p:nvPicPr><p:cNvPr id="5" name="Picture" descr="Photo of the pier"/>` +
    `</p:nvPicPr><p:blipFill><a:blip r:embed="rId2"/></p:blipFill></p:pic>`;
  return zipSync({
    "[Content_Types].xml": strToU8('<?xml version="1.0"?><Types/>'),
    "ppt/presentation.xml": strToU8(
      `<?xml version="1.0"?><p:presentation ${P}><p:sldIdLst><p:sldId id="256" r:id="rIdB"/>` +
        `<p:sldId id="257" r:id="rIdA"/></p:sldIdLst></p:presentation>`,
    ),
    "ppt/_rels/presentation.xml.rels": strToU8(
      `<?xml version="1.0"?><Relationships><Relationship Id="rIdA" Type="slide" ` +
        `Target="slides/slide1.xml"/><Relationship Id="rIdB" Type="slide" ` +
        `Target="slides/slide2.xml"/></Relationships>`,
    ),
    "ppt/slides/slide2.xml": slide(shape("title", ["Ports of the North"]) + table),
    "ppt/slides/slide1.xml": slide(
      shape("ctrTitle", ["Norby"]) + shape("body", ["Deep water", "Open all year"]) + pic,
    ),
    "ppt/slides/_rels/slide1.xml.rels": strToU8(
      `<?xml version="1.0"?><Relationships><Relationship Id="rId2" Type="image" ` +
        `Target="../media/image1.png"/></Relationships>`,
    ),
    "ppt/media/image1.png": PNG_1X1,
  });
}

/** HTML with navigation, script and style to drop, and an inline and a local image. */
export const HTML = `<!doctype html><html><head><title>Norby Guide</title>
<style>p { color: red }</style><script>var hidden = "script text";</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About menu</a></nav>
<header><p>Site banner</p></header>
<main><h1>Norby</h1><p>Norby is a port town &amp; fishing village in the north.</p>
<h2>Sights</h2><ul><li>The old pier</li><li>The lighthouse</li></ul>
<figure><img src="data:image/png;base64,${
  btoa(String.fromCharCode(...PNG_1X1))
}" alt="The lighthouse at dusk">
<figcaption>Built in 1874.</figcaption></figure>
<img src="pics/harbour.png" alt="Harbour view">
<table><tr><th>Sight</th><th>Built</th></tr><tr><td>Lighthouse</td><td>1874</td></tr></table>
</main><footer>Copyright footer</footer></body></html>`;

/** Markdown with headings, a list, a table and an image. */
export const MARKDOWN = `# Norby Notes

Norby lies **on the coast** of [the north](https://example.invalid).

## Facts

- Founded in 1612
- Population 4,200

| Year | Ships |
| ---- | ----- |
| 1901 | 3,400 |

![A pier in fog](pier.png)
`;
