import assert from "node:assert/strict";
import {
  AbsaFormatError,
  parseAbsaXml,
  type ReadAbsaOptions,
  readAbsaXml,
  XmlReadError,
} from "../datasets/absa_xml.ts";
import { decodeUtf8, InvalidUtf8Error } from "../datasets/utf8.ts";
import { absaStats } from "../datasets/absa_stats.ts";
import { dataStats } from "../tasks/data_stats.ts";
import { SHARED_DATA, sharedDataTest } from "./shared_data.ts";

const FIXTURES = new URL("./fixtures/absa/", import.meta.url).pathname;
const SHARED_MAMS = SHARED_DATA + "mams/";

Deno.test("MAMS ATSA fixture: terms, offsets, entities decoded", async () => {
  const data = await readAbsaXml(FIXTURES + "mams_atsa_small.xml");
  assert.deepEqual(data.format, "mams-atsa");
  assert.deepEqual(data.sentences.length, 3);
  const first = data.sentences[0];
  assert.deepEqual(first.id, "#0");
  assert.ok(first.text.includes("us & the bill"), "&amp; is decoded");
  for (const s of data.sentences) {
    for (const t of s.terms) assert.deepEqual(s.text.slice(t.from, t.to), t.term);
  }
  assert.deepEqual(first.terms.map((t) => t.polarity), ["positive", "negative", "neutral"]);
  assert.deepEqual(absaStats(data).labels, { positive: 3, negative: 3, neutral: 2 });
});

Deno.test("MAMS ACSA fixture: categories", async () => {
  const data = await readAbsaXml(FIXTURES + "mams_acsa_small.xml");
  assert.deepEqual(data.format, "mams-acsa");
  assert.deepEqual(data.sentences[1].categories, [
    { category: "place", polarity: "neutral" },
    { category: "menu", polarity: "negative" },
  ]);
  const stats = absaStats(data);
  assert.deepEqual([stats.sentences, stats.aspects, stats.categories], [2, 4, undefined]);
});

Deno.test("SemEval-2014 restaurants: ids, conflict and empty sentences kept or dropped", async () => {
  const path = FIXTURES + "semeval14_restaurants_small.xml";
  const all = await readAbsaXml(path);
  assert.deepEqual(all.format, "semeval2014");
  assert.deepEqual(all.sentences.map((s) => s.id), ["1001", "1002", "1003", "1004"]);
  const stats = absaStats(all);
  assert.deepEqual(stats.aspects, 3, "terms are counted as aspects");
  assert.deepEqual(stats.categories, 4);
  assert.deepEqual(stats.sentencesWithoutAspects, 1);
  assert.deepEqual(stats.labels, { positive: 1, negative: 1, conflict: 1 });

  const dropped = await readAbsaXml(path, { conflict: "drop", emptySentences: "drop" });
  assert.deepEqual(dropped.sentences.map((s) => s.id), ["1001", "1002"]);
  assert.ok(dropped.sentences.every((s) => s.categories.every((c) => c.polarity !== "conflict")));
});

/** Each bad fixture, the error type it must raise and a pattern its message must match. */
// deno-lint-ignore no-explicit-any
const BAD_CASES: [string, new (...args: any[]) => Error, RegExp][] = [
  ["empty.xml", XmlReadError, /empty\.xml: the file is empty/],
  ["not_xml.xml", XmlReadError, /not an XML file: expected it to start with '<', found "\{/],
  ["binary.xml", XmlReadError, /binary, not XML text/],
  ["unclosed_root.xml", XmlReadError, /malformed XML at line \d+, column \d+: .*sentences/],
  ["mismatched_tag.xml", XmlReadError, /malformed XML at line 3, column \d+: .*txt/],
  ["billion_laughs.xml", XmlReadError, /declares entities .*entity expansion is refused/],
  ["doctype.xml", XmlReadError, /has a DOCTYPE; DTDs are not allowed/],
  ["wrong_root.xml", XmlReadError, /expected the root element <sentences>, found <reviews>/],
  ["no_sentences.xml", XmlReadError, /no <sentence> elements under <sentences>/],
  ["missing_text.xml", AbsaFormatError, /sentence s1: missing <text> element/],
  ["missing_polarity.xml", AbsaFormatError, /sentence s2: aspectTerm 0: missing .*"polarity"/],
  ["unknown_polarity.xml", AbsaFormatError, /sentence s3: .*unknown polarity "good" \(expected/],
  [
    "offset_mismatch.xml",
    AbsaFormatError,
    /sentence s4: .*text\[3:7\] is " foo" but term is "food"/,
  ],
  ["offset_out_of_range.xml", AbsaFormatError, /sentence s5: .*from=0 to=40 lie outside .*≤ 4\)/],
  ["offset_not_number.xml", AbsaFormatError, /sentence s6: .*from="zero" is not a non-negative/],
  ["missing_category.xml", AbsaFormatError, /sentence #0: aspectCategory 0: missing .*"category"/],
  ["duplicate_id.xml", AbsaFormatError, /sentence 7: duplicate sentence id/],
];

for (const [name, type, pattern] of BAD_CASES) {
  Deno.test(`bad XML ${name} gives its specific error`, async () => {
    const path = FIXTURES + "bad/" + name;
    try {
      await readAbsaXml(path);
    } catch (e) {
      assert.ok(e instanceof type, `${name}: expected ${type.name}, got ${(e as Error).name}`);
      assert.match((e as Error).message, pattern);
      assert.ok((e as Error).message.includes(name), "message names the file");
      return;
    }
    throw new Error(`${name} was accepted`);
  });
}

/** Reads a bad fixture and returns the message it is refused with. */
async function refusal(name: string, options: ReadAbsaOptions = {}): Promise<string> {
  try {
    await readAbsaXml(FIXTURES + "bad/" + name, options);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${name} was accepted`);
}

Deno.test("invalid UTF-8 is refused with the byte offset and line of the first bad byte", async () => {
  assert.equal(
    await refusal("invalid_utf8.xml"),
    `${FIXTURES}bad/invalid_utf8.xml: not valid UTF-8 at byte offset 81 (line 4): 0xe9 begins a ` +
      "UTF-8 character that is not completed (the next byte is 0x20); save the file as UTF-8 " +
      "(it may be Latin-1 or Windows-1252)",
  );
  assert.equal(
    await refusal("truncated_utf8.xml"),
    `${FIXTURES}bad/truncated_utf8.xml: not valid UTF-8 at byte offset 52 (line 3): 0xc3 begins ` +
      "a UTF-8 character that is not completed (the next byte is 0x3c); save the file as UTF-8 " +
      "(it may be Latin-1 or Windows-1252)",
  );
});

Deno.test("strict UTF-8: bad lead bytes, overlong forms, surrogates, a cut-off end", () => {
  const cases: [number[], string][] = [
    [[0x61, 0xff, 0x62], "byte 0xff cannot start a UTF-8 character"],
    [[0x0a, 0x80], "byte 0x80 cannot start a UTF-8 character"],
    [[0xc0, 0xaf], "byte 0xc0 cannot start a UTF-8 character"], // overlong "/"
    [
      [0xe0, 0x80, 0xaf],
      "0xe0 begins a UTF-8 character that is not completed (the next byte is 0x80)",
    ],
    [
      [0xed, 0xa0, 0x80],
      "0xed begins a UTF-8 character that is not completed (the next byte is 0xa0)",
    ],
    [
      [0xf4, 0x90, 0x80, 0x80],
      "0xf4 begins a UTF-8 character that is not completed (the next byte is 0x90)",
    ],
    [
      [0x61, 0xe2, 0x82],
      "0xe2 0x82 begins a UTF-8 character that is not completed (the file ends)",
    ],
  ];
  for (const [bytes, what] of cases) {
    const offset = bytes.findIndex((b) => b >= 0x80);
    const line = bytes[0] === 0x0a ? 2 : 1;
    assert.throws(
      () => decodeUtf8(Uint8Array.from(bytes)),
      (e: Error) =>
        e instanceof InvalidUtf8Error &&
        e.message === `not valid UTF-8 at byte offset ${offset} (line ${line}): ${what}; ` +
            "save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
      `${bytes}`,
    );
  }
  const good = "aé€😀";
  assert.equal(decodeUtf8(new TextEncoder().encode("\uFEFF" + good)), good, "BOM dropped");
});

Deno.test("an unknown element is refused with its line and sentence id", async () => {
  assert.equal(
    await refusal("unknown_element.xml"),
    `${FIXTURES}bad/unknown_element.xml: 1 problem(s) in ABSA XML\n` +
      "  line 5, sentence s7: unknown element <aspectterm> inside <aspectTerms> " +
      "(expected <aspectTerm>)",
  );
});

Deno.test("a misplaced element is refused, naming where it belongs", async () => {
  assert.equal(
    await refusal("misplaced_element.xml"),
    `${FIXTURES}bad/misplaced_element.xml: 1 problem(s) in ABSA XML\n` +
      "  line 8, sentence #1: misplaced element <aspectTerm> inside <sentence> " +
      "(it belongs inside <aspectTerms>)",
  );
});

Deno.test("stray text and elements outside any sentence are refused with their lines", () => {
  const xml = `<sentences>
  <sentense id="x"><text>typo</text></sentense>
  <sentence id="a"><text>Good tea</text>loose words
    <aspectTerms><aspectTerm term="tea" polarity="positive" from="5" to="8"><note/></aspectTerm>
    </aspectTerms></sentence>
</sentences>`;
  assert.throws(
    () => parseAbsaXml("m.xml", xml),
    (e: Error) =>
      e instanceof AbsaFormatError && e.message === "m.xml: 3 problem(s) in ABSA XML\n" +
          "  line 2: unknown element <sentense> inside <sentences> (expected <sentence>)\n" +
          '  line 3, sentence a: unexpected text "loose words" inside <sentence> ' +
          "(expected <text>, <aspectTerms>, <aspectCategories>)\n" +
          "  line 4, sentence a: unknown element <note> inside <aspectTerm> (expected no content)",
  );
});

Deno.test("lenient reading skips unknown and misplaced elements, with one warning each", async () => {
  const unknown = await readAbsaXml(FIXTURES + "bad/unknown_element.xml", { lenient: true });
  assert.deepEqual(unknown.sentences.map((s) => [s.id, s.terms.length]), [["s7", 0]]);
  assert.deepEqual(unknown.warnings, [
    `${FIXTURES}bad/unknown_element.xml: line 5, sentence s7: unknown element <aspectterm> ` +
    "inside <aspectTerms> (expected <aspectTerm>) (skipped)",
  ]);
  const misplaced = await readAbsaXml(FIXTURES + "bad/misplaced_element.xml", { lenient: true });
  assert.deepEqual(misplaced.sentences.map((s) => s.terms.length), [1, 0]);
  assert.equal(misplaced.warnings.length, 1);
  // Lenient is about elements only: a sentence problem is still an error.
  await assert.rejects(
    () => readAbsaXml(FIXTURES + "bad/missing_text.xml", { lenient: true }),
    /line 2, sentence s1: missing <text> element/,
  );
  const clean = await readAbsaXml(FIXTURES + "mams_atsa_small.xml");
  assert.deepEqual(clean.warnings, []);
});

Deno.test("data:stats --lenient reports the skipped elements; without it the file is refused", async () => {
  const file = FIXTURES + "bad/unknown_element.xml";
  await assert.rejects(() => dataStats(["--file", file]), /unknown element <aspectterm>/);
  const lines = await dataStats(["--lenient", "--file", file]);
  assert.deepEqual(lines, [
    `warning: ${file}: line 5, sentence s7: unknown element <aspectterm> inside <aspectTerms> ` +
    "(expected <aspectTerm>) (skipped)",
    `${file}: semeval2014, 1 sentences, 0 aspects, 1 without aspects; labels: ; ` +
    "1 element(s) skipped (--lenient)",
  ]);
});

Deno.test("entity expansion is refused quickly, even in memory", () => {
  const start = performance.now();
  const bomb =
    `<!DOCTYPE s [<!ENTITY a "${"x".repeat(1000)}"><!ENTITY b "${"&a;".repeat(1000)}">]>` +
    `<sentences><sentence><text>${"&b;".repeat(1000)}</text></sentence></sentences>`;
  try {
    parseAbsaXml("bomb.xml", bomb);
    throw new Error("accepted");
  } catch (e) {
    assert.ok(e instanceof XmlReadError);
  }
  assert.ok(performance.now() - start < 1000);
});

Deno.test("a missing file gives a clear error", async () => {
  await assert.rejects(() => readAbsaXml(FIXTURES + "nope.xml"), /nope\.xml: file not found/);
});

Deno.test("data:stats --json on fixtures", async () => {
  const lines = await dataStats([
    "--json",
    "--file",
    FIXTURES + "mams_atsa_small.xml",
    "--file",
    FIXTURES + "semeval14_restaurants_small.xml",
  ]);
  const records = lines.map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(records[0]), ["file", "format", "sentences", "aspects", "labels"]);
  assert.deepEqual(records[0].aspects, 8);
  assert.deepEqual(records[1].format, "semeval2014");
  assert.deepEqual(records[1].categories, 4);
});

sharedDataTest(
  "data:stats on ../shared/data/mams reports the published counts",
  ["mams"],
  async () => {
    const lines = await dataStats(["--json", "--data", SHARED_MAMS]);
    const byName = Object.fromEntries(lines.map((l) => {
      const r = JSON.parse(l);
      return [r.file.slice(SHARED_MAMS.length), r];
    }));
    const expected: Record<string, [number, number, Record<string, number>]> = {
      "atsa/train.xml": [4297, 11186, { positive: 3380, negative: 2764, neutral: 5042 }],
      "atsa/val.xml": [500, 1332, { positive: 403, negative: 325, neutral: 604 }],
      "acsa/train.xml": [3149, 7090, { positive: 1929, negative: 2084, neutral: 3077 }],
      "acsa/val.xml": [400, 888, { positive: 241, negative: 259, neutral: 388 }],
    };
    for (const [file, [sentences, aspects, labels]] of Object.entries(expected)) {
      const r = byName[file];
      assert.ok(r, `${file} was described`);
      assert.deepEqual([r.sentences, r.aspects], [sentences, aspects], file);
      assert.deepEqual(r.labels, labels, file);
    }
  },
);
