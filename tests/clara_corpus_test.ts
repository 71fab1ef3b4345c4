import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { MEMORY, QA_EXAMPLES, runTask as cli, stage2Fixture } from "./clara_fixtures.ts";
import { noGrad } from "../core/autograd.ts";
import { tidy } from "../core/scope.ts";
import * as ops from "../core/ops/mod.ts";
import { recallAtK } from "../core/metrics/qa.ts";
import { cosineTopKCpu, normalizeRows } from "../core/retrieval/cosine_index.ts";
import { bm25Rank } from "../datasets/bm25.ts";
import { ClaraE2E } from "../tasks/clara/e2e_model.ts";
import { loadE2EModel, saveE2EModel } from "../tasks/clara/e2e_dir.ts";
import { corpusPrefix, readCorpusIndex } from "../tasks/clara/corpus.ts";
import { documentIds, promptIds } from "../tasks/clara/tokens.ts";
import { indexClara } from "../tasks/index_clara.ts";

gpuTest(
  "--corpus INDEX: eval:clara --setting e2e and ask:clara retrieve the CPU brute-force top k of a whole index and answer from those memories",
  async () => {
    const { f, model: lm, tokenizer, stage2 } = await stage2Fixture();
    // An untrained reasoner is enough: the test is about what is retrieved and read, not how well.
    const e2e = new ClaraE2E(lm, { queryTokens: 3, rank: 4 });
    const checkpoint = `${f.dir}/e2e`;
    await saveE2EModel(checkpoint, e2e, {
      format: "fast-clara-e2e/1",
      stage: "e2e",
      memoryRun: {
        format: "fast-clara-memory/1",
        stage: "instruct",
        base: (JSON.parse(
          await Deno.readTextFile(`${stage2}/config.json`),
        )).base,
        memory: MEMORY,
      },
      reasoner: e2e.reasoner,
      k: 2,
      tau: 0.1,
      selection: "ste",
    }, tokenizer);
    noGrad(() => e2e.dispose());
    // The corpus: the fixture's six paragraphs plus 20 filler documents (26 > the 16 one lane
    // keeps, and more than one candidate per lane in the GPU top-k).
    const context = QA_EXAMPLES[0].context as [string, string[]][];
    const docs = [
      ...context.map(([title, s], i) => ({ id: `p${i}`, title, text: s.join(" ") })),
      ...Array.from({ length: 20 }, (_, i) => ({
        id: `x${i}`,
        title: `Filler ${i}`,
        text: `Filler page ${i} lists ${i + 3} farmers, ${i} bridges and a market near a river.`,
      })),
    ];
    const docsFile = `${f.dir}/corpus.jsonl`;
    await Deno.writeTextFile(docsFile, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
    await indexClara(stage2, docsFile, `${f.dir}/index`);
    // index:clara also takes an e2e directory: its compressor (here still the stage-2 one).
    await indexClara(checkpoint, docsFile, `${f.dir}/index-e2e`);
    const [a, b] = await Promise.all(
      [`${f.dir}/index`, `${f.dir}/index-e2e`].map((p) => readCorpusIndex(p)),
    );
    assertEquals(Array.from(b.memories), Array.from(a.memories));
    assertEquals([a.checkpoint, b.checkpoint, a.docsFile], [stage2, checkpoint, docsFile]);

    const r = await cli("eval_clara.ts", [
      ...["--checkpoint", checkpoint, "--file", f.dev, "--setting", "e2e"],
      ...["--corpus", `${f.dir}/index`, "--stage2", stage2, "--k", "2"],
      ...["--max-new-tokens", "3", "--json"],
    ]);
    assertEquals(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assertEquals([report.n, report.k, report.corpus.documents, report.corpus.docs], [
      4,
      2,
      26,
      docsFile,
    ]);
    assertEquals(report.gold_in_corpus, 1);
    for (const row of ["e2e", "e2e_generator_bm25", "stage2_bm25"]) assertEquals(report[row].n, 4);

    // Recomputed here: the reasoner's mean query → cosine against every document's mean memory
    // by the CPU loop; BM25 over the same "title: text" documents.
    const index = await readCorpusIndex(`${f.dir}/index.safetensors`);
    const { model } = await loadE2EModel(checkpoint);
    model.eval();
    const dev = QA_EXAMPLES.slice(0, 4);
    const prompts = dev.map((e) => promptIds(tokenizer, e.question));
    const q = noGrad(() => tidy(() => ops.mean(model.queryEmbeddings(prompts), 1)));
    const queries = await q.data() as Float32Array;
    q.dispose();
    const cpu = cosineTopKCpu(normalizeRows(index.means, 26, index.dim), 26, index.dim, queries, 5);
    const title = (row: number) => index.rows[row].title;
    const texts = docs.map((d) => `${d.title}: ${d.text}`);
    for (const k of [1, 2, 5]) {
      let e2eWant = 0, bm25Want = 0;
      dev.forEach((e, i) => {
        const gold = [...new Set(e.supporting_facts.map(([t]) => t as string))];
        const mine = Array.from(cpu.indices.subarray(i * 5, (i + 1) * 5)).map(title);
        e2eWant += recallAtK(mine, gold, k) / dev.length;
        bm25Want += recallAtK(bm25Rank(e.question, texts).map(title), gold, k) / dev.length;
      });
      assert(Math.abs(report.e2e_recall[`recall_at_${k}`] - e2eWant) < 1e-12, `e2e R@${k}`);
      assert(Math.abs(report.bm25_recall[`recall_at_${k}`] - bm25Want) < 1e-12, `BM25 R@${k}`);
    }
    assertEquals(report.samples[0].retrieved, [title(cpu.indices[0]), title(cpu.indices[1])]);

    // What the generator reads for the first question: the two retrieved documents' memories,
    // each with its own l, in rank order — as compressing them afresh gives.
    const picked = [Array.from(cpu.indices.subarray(0, 2))];
    const prefix = corpusPrefix(index, picked);
    const fresh = noGrad(() =>
      tidy(() =>
        ops.concat(
          picked[0].map((row) =>
            model.lm.compress(
              [documentIds(tokenizer, texts[row], MEMORY.docTokens)],
              index.lengths[row],
            )
          ),
          1,
        )
      )
    );
    const want = await fresh.data();
    fresh.dispose();
    assertEquals(prefix.length, want.length);
    // Batched in index:clara or alone here: f32 rounding only.
    want.forEach((v, i) =>
      assert(Math.abs(prefix[i] - v) <= 1e-5, `prefix ${i}: ${prefix[i]} vs ${v}`)
    );
    assertThrows(() => corpusPrefix(index, [[0], [0, 1]]), "same memory count");
    model.dispose();

    // ask:clara --corpus: the same retrieval for one question.
    const ask = await cli("ask_clara.ts", [
      ...["--checkpoint", checkpoint, "--corpus", `${f.dir}/index`],
      ...["--question", dev[0].question, "--k", "3", "--max-new-tokens", "3", "--json"],
    ]);
    assertEquals(ask.code, 0, ask.stderr);
    const answer = JSON.parse(ask.stdout);
    assertEquals(
      answer.retrieved.map((d: { row: number }) => d.row),
      Array.from(cpu.indices.subarray(0, 3)),
    );
    assertEquals(typeof answer.answer, "string");

    // A row list that does not match the memories is refused, naming the file.
    await Deno.writeTextFile(`${f.dir}/index.jsonl`, '{"row": 0, "id": "p0", "title": "Avon"}\n');
    const bad = await assertRejects(() => readCorpusIndex(`${f.dir}/index`), Error);
    assert(bad.message.includes("index.jsonl: 1 rows for 26 memories"), bad.message);
    const missing = await assertRejects(() => readCorpusIndex(`${f.dir}/nothing`), Error);
    assert(missing.message.includes("nothing.safetensors: cannot read"), missing.message);
  },
);
