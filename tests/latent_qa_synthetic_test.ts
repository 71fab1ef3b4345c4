import assert from "node:assert/strict";
import type { MultiHopExample } from "../datasets/multihop_qa.ts";
import { readMultiHopJson, supportMask, toHotpotRecord } from "../datasets/multihop_qa.ts";
import { parseClozeFileArgs, writeClozeFile } from "../tasks/latent_qa_cloze.ts";
import { synthesizeClozeQa } from "../tasks/latent_qa/synthetic.ts";

/** Twelve one-example paragraphs; every second sentence holds a year to blank out. */
function pool(): MultiHopExample[] {
  return Array.from({ length: 4 }, (_, e) => ({
    id: `ex-${e}`,
    source: "hotpotqa" as const,
    question: "Which one?",
    answer: "yes",
    paragraphs: Array.from({ length: 3 }, (_, p) => {
      const n = e * 3 + p;
      return {
        title: `Town ${n}`,
        sentences: [
          "It is a small place by the river.",
          ` Its old church was built in ${1700 + n} by the local masons.`,
        ],
      };
    }),
    supportingFacts: [{ title: `Town ${e * 3}`, sentenceIndex: 0 }],
  }));
}

Deno.test("synthesized cloze QA: the blank's answer sits in the one supporting sentence", () => {
  const made = synthesizeClozeQa(pool(), { count: 100, seed: 3, distractors: 4, maxPosition: 2 });
  assert.equal(made.length, 12, "one clozeable sentence per paragraph, none repeated");
  assert.equal(new Set(made.map((e) => e.answer)).size, 12);
  for (const e of made) {
    assert.equal(e.supportingFacts.length, 1);
    const fact = e.supportingFacts[0];
    const at = e.paragraphs.findIndex((p) => p.title === fact.title);
    assert.ok(at >= 0 && at <= 2, `target paragraph at ${at}`);
    assert.equal(e.paragraphs.length, 5);
    assert.equal(new Set(e.paragraphs.map((p) => p.title)).size, 5, "no paragraph twice");
    const sentence = e.paragraphs[at].sentences[fact.sentenceIndex].trim();
    assert.match(e.answer, /^17\d\d$/);
    assert.equal(e.question, `Fill in the blank (a date): ${sentence.replace(e.answer, "____")}`);
    // The support mask of the shared reader covers exactly that sentence's tokens.
    const encode = (t: string) => t.split(" ").map((w) => w.length);
    const { mask } = supportMask(e, encode);
    const expected = e.paragraphs.flatMap((p) =>
      p.sentences.flatMap((s, i) =>
        encode(`${p.title}: ${s.trim()}`).map(() =>
          p.title === fact.title && i === fact.sentenceIndex ? 1 : 0
        )
      )
    );
    assert.deepEqual(mask, expected);
  }
});

Deno.test("synthesized cloze QA: deterministic per seed, capped by count", () => {
  const a = synthesizeClozeQa(pool(), { count: 5, seed: 1 });
  const b = synthesizeClozeQa(pool(), { count: 5, seed: 1 });
  const c = synthesizeClozeQa(pool(), { count: 5, seed: 2 });
  assert.equal(a.length, 5);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((e) => e.answer), c.map((e) => e.answer));
  assert.equal(a[0].paragraphs.length, 10, "9 distractors by default");
  assert.deepEqual(synthesizeClozeQa(pool(), { count: 0, seed: 1 }), []);
});

Deno.test("latent-qa:cloze writes a HotpotQA file that reads back as the synthesized questions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const from = `${dir}/pool.json`, out = `${dir}/cloze.json`;
    await Deno.writeTextFile(from, JSON.stringify(pool().map(toHotpotRecord)));
    const o = parseClozeFileArgs(["--from", from, "--out", out, "--count", "5", "--seed", "3"]);
    assert.equal(await writeClozeFile(o), 5);
    const read = await readMultiHopJson(out);
    const made = synthesizeClozeQa(await readMultiHopJson(from), { count: 5, seed: 3 });
    assert.deepEqual(read, made.map((e) => ({ ...e, source: "hotpotqa" })));
    const names = [...Deno.readDirSync(dir)].map((f) => f.name).sort();
    assert.deepEqual(names, ["cloze.json", "pool.json"], "no temporary file left behind");
    assert.throws(() => parseClozeFileArgs(["--from", from]), /--out: expected/);
    assert.throws(
      () => parseClozeFileArgs(["--from", from, "--out", out, "--count", "0"]),
      /--count/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
