import assert from "node:assert/strict";
import { strToU8 } from "fflate";
import { INGEST_STATE_FILE, KNOWLEDGE_FILE, runIngest } from "../tasks/docs/ingest.ts";
import { parseKnowledge } from "../tasks/docs/knowledge.ts";
import { gpt2TokenCounter } from "../tasks/docs/token_count.ts";
import {
  brokenPng,
  HTML,
  makeDocx,
  makePdf,
  makePptx,
  MARKDOWN,
  PNG_1X1,
} from "./docs_fixtures.ts";

const countTokens = await gpt2TokenCounter();
const quiet = { write: () => {} };
const STORY = "= Norby =\n\nNorby is a port town in the north. The harbour opened in 1871.\n\n" +
  "History\n\nAna Lind built the pier in 1874. In 1901 the harbour handled 3,400 ships.\n";

async function writeTree(root: string, files: Record<string, Uint8Array | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, typeof content === "string" ? strToU8(content) : content);
  }
}

async function fixtureTree(root: string): Promise<void> {
  await writeTree(root, {
    "report.pdf": await makePdf(),
    "docs/harbour.docx": makeDocx(),
    "docs/deck.pptx": makePptx(),
    "web/guide.html": HTML,
    "web/pics/harbour.png": PNG_1X1,
    "notes.md": MARKDOWN,
    "story.txt": STORY,
    "zh.txt": "诺比是北方的一个港口城市。港口于1871年开放。一九零一年，港口处理了三千四百艘船。",
    "broken/bad.pdf": "%PDF-1.7\n1 0 obj garbage",
    "broken/cut.docx": makeDocx().slice(0, 300),
    "broken/broken.png": brokenPng(),
    "broken/empty.txt": "",
    "broken/photo.txt": PNG_1X1,
    "broken/data.xyz": "hello",
    ".hidden/secret.txt": "never read",
  });
}

Deno.test("docs:ingest reads every format, skips broken files with one warning each, counts them", async () => {
  const root = await Deno.makeTempDir();
  await fixtureTree(root);
  const out = `${root}/out`; // inside the input: must not be read back
  const warnings: string[] = [];
  const summary = await runIngest({
    inDir: root,
    outDir: out,
    countTokens,
    warn: (l) => warnings.push(l),
    progress: quiet,
  });
  assert.deepEqual(
    [summary.files, summary.read, summary.skipped, summary.resumed, summary.images],
    [14, 14, 6, 0, 6],
  );
  assert.equal(warnings.length, 6, warnings.join("\n"));
  const expected: [string, string][] = [
    ["broken/bad.pdf", "corrupt PDF"],
    ["broken/broken.png", "corrupt image"],
    ["broken/cut.docx", "corrupt or truncated zip"],
    ["broken/data.xyz", "unsupported format .xyz"],
    ["broken/empty.txt", "empty file"],
    ["broken/photo.txt", "wrong extension"],
  ];
  expected.forEach(([file, reason], i) => {
    assert.ok(warnings[i].startsWith(`warning: skipped ${file}: `), warnings[i]);
    assert.ok(warnings[i].includes(reason), warnings[i]);
    assert.equal(summary.skippedFiles[i].source, file);
  });
  const records = parseKnowledge(
    KNOWLEDGE_FILE,
    await Deno.readTextFile(`${out}/${KNOWLEDGE_FILE}`),
  );
  assert.equal(records.length, summary.chunks);
  const sources = [...new Set(records.map((r) => r.source))];
  assert.deepEqual(sources, [
    "docs/deck.pptx",
    "docs/harbour.docx",
    "notes.md",
    "report.pdf",
    "story.txt",
    "web/guide.html",
    "web/pics/harbour.png",
    "zh.txt",
  ]);
  const pdf = records.filter((r) => r.source === "report.pdf");
  assert.deepEqual(pdf.map((r) => [r.title, r.section, r.page]), [
    ["Harbour Report", "", 1],
    ["Harbour Report", "Traffic", 2],
  ]);
  assert.ok(pdf[0].text.includes("opened in 1871"));
  const story = records.filter((r) => r.source === "story.txt");
  assert.deepEqual(story.map((r) => [r.title, r.section, r.lang]), [
    ["Norby", "", "en"],
    ["Norby", "History", "en"],
  ]);
  assert.equal(records.find((r) => r.source === "zh.txt")!.lang, "zh");
  const deck = records.filter((r) => r.source === "docs/deck.pptx");
  assert.deepEqual(deck.map((r) => [r.section, r.page]), [["Ports of the North", 1], ["Norby", 2]]);
  const pier = deck[1].images[0];
  assert.equal(pier.description, "Photo of the pier");
  assert.equal(pier.page, 2);
  assert.deepEqual(await Deno.readFile(`${out}/${pier.path}`), PNG_1X1);
  const docx = records.find((r) => r.source === "docs/harbour.docx" && r.images.length > 0)!;
  assert.deepEqual([docx.images[0].description, docx.images[0].width], ["Map of the harbour", 1]);
  const html = records.filter((r) => r.source === "web/guide.html").flatMap((r) => r.images);
  assert.deepEqual(html.map((i) => [i.description, i.path !== null]), [
    ["The lighthouse at dusk. Built in 1874.", true],
    ["Harbour view", true],
  ]);
  const md = records.find((r) => r.source === "notes.md" && r.images.length > 0)!.images[0];
  assert.deepEqual([md.name, md.path, md.description], ["pier.png", null, "A pier in fog"]);
  const standalone = records.find((r) => r.source === "web/pics/harbour.png")!;
  assert.equal(standalone.text, "");
  assert.equal(standalone.images[0].width, 1);
  let assets = 0;
  for await (const _ of Deno.readDir(`${out}/assets`)) assets++;
  assert.equal(assets, 5);
  assert.ok(records.every((r) => /^[0-9a-f]{16}$/.test(r.id)));
  assert.equal(new Set(records.map((r) => r.id)).size, records.length);
  assert.ok(records.every((r) => !r.text.includes("never read")));
  await Deno.remove(root, { recursive: true });
});

Deno.test("docs:ingest again skips done sources by hash; a changed source replaces its chunks", async () => {
  const root = await Deno.makeTempDir();
  const input = `${root}/in`;
  await fixtureTree(input);
  const out = `${root}/out`;
  const run = () =>
    runIngest({ inDir: input, outDir: out, countTokens, warn: () => {}, progress: quiet });
  const first = await run();
  const before = await Deno.readTextFile(`${out}/${KNOWLEDGE_FILE}`);
  const again = await run();
  assert.deepEqual([again.read, again.resumed, again.skipped, again.chunks], [
    0,
    14,
    6,
    first.chunks,
  ]);
  assert.equal(await Deno.readTextFile(`${out}/${KNOWLEDGE_FILE}`), before);

  await Deno.writeTextFile(`${input}/story.txt`, STORY.replace("3,400", "5,000"));
  const changed = await run();
  assert.deepEqual([changed.read, changed.dropped, changed.chunks], [1, 1, first.chunks]);
  const records = parseKnowledge("k", await Deno.readTextFile(`${out}/${KNOWLEDGE_FILE}`));
  const story = records.filter((r) => r.source === "story.txt");
  assert.equal(story.length, 2);
  assert.ok(
    story[1].text.includes("5,000") && !story.some((r) => r.text.includes("3,400")),
  );
  assert.equal(records.at(-1)!.source, "story.txt", "re-read sources are appended");
  const others = (text: string) =>
    text.split("\n").filter((l) => l !== "" && !l.includes('"source":"story.txt"')).join("\n");
  assert.equal(others(await Deno.readTextFile(`${out}/${KNOWLEDGE_FILE}`)), others(before));

  await assert.rejects(
    runIngest({ inDir: input, outDir: out, chunkTokens: 128, countTokens, progress: quiet }),
    /made with chunkTokens = 256, this run asks for 128; pass --fresh/,
  );
  await Deno.remove(root, { recursive: true });
});

/** Many small text files, so that a run takes a few seconds. */
async function manyFiles(input: string, n: number): Promise<void> {
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const body = Array.from(
      { length: 30 },
      (_, j) =>
        `File ${i} sentence ${j} tells that Harbour ${i} shipped ${i * 31 + j} crates in ${
          1900 + j
        }.`,
    ).join(" ");
    files[`part${String(i).padStart(3, "0")}.txt`] = `= Harbour ${i} =\n\n${body}\n`;
  }
  await writeTree(input, files);
}

/** A tree of `n` files and the knowledge file an uninterrupted run makes of it. */
async function uninterrupted(
  n: number,
): Promise<{ root: string; input: string; whole: Uint8Array }> {
  const root = await Deno.makeTempDir();
  const input = `${root}/in`;
  await manyFiles(input, n);
  await runIngest({ inDir: input, outDir: `${root}/whole`, countTokens, progress: quiet });
  return { root, input, whole: await Deno.readFile(`${root}/whole/${KNOWLEDGE_FILE}`) };
}

Deno.test("docs:ingest killed mid-run (SIGKILL) and resumed writes the bytes of an uninterrupted run", async () => {
  const { root, input, whole } = await uninterrupted(240);

  const out = `${root}/killed`;
  const task = new URL("../tasks/docs_ingest.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", task, "--in", input, "--out", out, "--commit-ms", "0"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const committed = async () => {
    const state = await Deno.readTextFile(`${out}/${INGEST_STATE_FILE}`).catch(() => "");
    return state ? JSON.parse(state).lengths["ingest_done.jsonl"] as number : 0;
  };
  const deadline = Date.now() + 30_000;
  while ((await committed()) < 2000 && Date.now() < deadline) await delay(5);
  child.kill("SIGKILL");
  await child.status;
  const doneLines = (await Deno.readTextFile(`${out}/ingest_done.jsonl`)).split("\n").length - 1;
  assert.ok(doneLines > 0 && doneLines < 240, `killed after ${doneLines} of 240 sources`);

  const resumed = await runIngest({ inDir: input, outDir: out, countTokens, progress: quiet });
  assert.ok(resumed.resumed >= 1 && resumed.read >= 1, JSON.stringify(resumed));
  assert.deepEqual(await Deno.readFile(`${out}/${KNOWLEDGE_FILE}`), whole);
  await Deno.remove(root, { recursive: true });
});

Deno.test("docs:ingest: a failure mid-source and a torn last line leave no trace after resuming", async () => {
  const { root, input, whole } = await uninterrupted(6);
  const out = `${root}/out`;
  let calls = 0;
  const failing = (text: string) => {
    if (++calls === 100) throw new Error("simulated crash");
    return countTokens(text);
  };
  await assert.rejects(
    runIngest({
      inDir: input,
      outDir: out,
      countTokens: failing,
      progress: quiet,
      commitIntervalMs: 0,
    }),
    /simulated crash/,
  );
  const partial = await Deno.readFile(`${out}/${KNOWLEDGE_FILE}`);
  assert.ok(partial.length > 0 && partial.length < whole.length);
  // A torn write: half a line after the committed ones.
  await Deno.writeTextFile(`${out}/${KNOWLEDGE_FILE}`, '{"id":"0123', { append: true });
  const summary = await runIngest({ inDir: input, outDir: out, countTokens, progress: quiet });
  assert.ok(summary.resumed > 0 && summary.read > 0);
  assert.deepEqual(await Deno.readFile(`${out}/${KNOWLEDGE_FILE}`), whole);
  // Uncommitted bytes after a finished run (nothing left to write over them) are cut too.
  await Deno.writeTextFile(`${out}/${KNOWLEDGE_FILE}`, '{"id":"0123', { append: true });
  await runIngest({ inDir: input, outDir: out, countTokens, progress: quiet });
  assert.deepEqual(await Deno.readFile(`${out}/${KNOWLEDGE_FILE}`), whole);
  await Deno.remove(root, { recursive: true });
});

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
