import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { TINY, topicTexts } from "./cluster_fixtures.ts";
import { lengthBatches } from "../tasks/cluster/length_batches.ts";
import { type ClaraMemories, groupMemories } from "../tasks/cluster/clara_embedder.ts";
import { embedTexts } from "../tasks/cluster/embedders.ts";
import { runClustering } from "../tasks/cluster/run.ts";
import type { HierarchyNode } from "../tasks/cluster/hierarchy.ts";
import { DecoderOnly, type StackConfig } from "../core/nn/stacks.ts";
import { noGrad } from "../core/autograd.ts";
import { randn } from "../core/random.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { LM_FORMAT, saveLmModel } from "../tasks/clara/model_dir.ts";
import {
  loadMemoryModel,
  MEMORY_FORMAT,
  memoryModel,
  type MemoryOptions,
  saveMemoryModel,
} from "../tasks/clara/memory_dir.ts";
import { documentIds } from "../tasks/clara/tokens.ts";

Deno.test("lengthBatches: sorted by length, cut at the row and token budgets and where the key changes", () => {
  const lengths = [5, 1, 3, 3, 9, 2, 3];
  const cut = lengthBatches(lengths, { maxRows: 3, maxTokens: 9 });
  // Order 1(1) 5(2) 2(3) | 3(3) 6(3) 0(5): 3 rows × 5 = 15 > 9 | 4(9).
  assertEquals(cut, [[1, 5, 2], [3, 6], [0], [4]]);
  assertEquals(lengthBatches(lengths, { maxRows: 2, maxTokens: 100 }), [
    [1, 5],
    [2, 3],
    [6, 0],
    [4],
  ]);
  const keyed = lengthBatches(
    lengths,
    { maxRows: 10, maxTokens: 100 },
    (i) => (lengths[i] > 2 ? 1 : 0),
  );
  assertEquals(keyed, [[1, 5], [2, 3, 6, 0, 4]]);
  // A row longer than the budget still gets a batch of its own.
  assertEquals(lengthBatches([50, 1], { maxRows: 4, maxTokens: 10 }), [[1], [0]]);
  let message = "";
  try {
    lengthBatches([1], { maxRows: 0, maxTokens: 10 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("maxRows and maxTokens must be ≥ 1"), message);
});

Deno.test("groupMemories: slot-wise means over the members that have the slot, up to the median count", () => {
  // Three texts, dim 1: text 0 has 1 slot [3], text 1 has 3 slots [6, 4, 6], text 2 has 2 [3, 8]
  // (means exact in f32).
  const memories: ClaraMemories = {
    data: Float32Array.from([3, 6, 4, 6, 3, 8]),
    offset: Int32Array.from([0, 1, 4]),
    count: Int32Array.from([1, 3, 2]),
    dim: 1,
  };
  const g = groupMemories(memories, [[0, 1, 2], [1], [0, 0]]);
  // Group 0: median count 2 → slot 0 mean(3, 6, 3) = 4, slot 1 mean(4, 8) = 6; group 1: all 3.
  assertEquals(g.slots, 3);
  assertEquals([...g.data], [4, 6, 0, 6, 4, 6, 3, 0, 0]);
  assertEquals(g.mask, [[1, 1, 0], [1, 1, 1], [1, 0, 0]]);
});

/** A tiny untrained CLaRa memory-model directory (and its tokenizer) in `dir`. */
async function tinyClaraDir(dir: string, memory: MemoryOptions): Promise<TextTokenizer> {
  const texts = topicTexts().map((t) => t.text);
  const tokenizer = new TextTokenizer(trainWordPiece(texts, { vocabSize: 120 }));
  const base: StackConfig = {
    ...TINY,
    vocabSize: tokenizer.vocabSize,
    maxLength: 64,
    positions: "rotary",
    seed: 4,
  };
  const lm = new DecoderOnly(base);
  const model = memoryModel(lm, memory);
  // Every LoRA B drawn (zero at init), so that both adapters change what their phase computes.
  const live = Object.fromEntries(
    model.namedParameters().filter(([n]) => /\.lora_\w+\.B$/.test(n)).map((
      [n, p],
      i,
    ) => [n, randn([...p.shape], { std: 0.3, seed: 20 + i })]),
  );
  assert(Object.keys(live).length > 0, "the model has adapters");
  model.loadStateDict(live, false);
  for (const t of Object.values(live)) t.dispose();
  await saveLmModel(`${dir}/lm`, lm, { format: LM_FORMAT, model: base, seqLen: 64 }, tokenizer);
  lm.dispose();
  await saveMemoryModel(
    `${dir}/clara`,
    model,
    { format: MEMORY_FORMAT, stage: "pretrain", base, memory },
    tokenizer,
  );
  model.dispose();
  return tokenizer;
}

gpuTest(
  "clara embedder: the mean of the compressor's output memory, alike in any batch; mean memories decode through the generator",
  async () => {
    const dir = Deno.makeTempDirSync();
    const memory = { memoryTokens: 4, compressionRate: 2, rank: 2, docTokens: 6 };
    const tokenizer = await tinyClaraDir(dir, memory);
    const texts = topicTexts();
    const inputs = ["pizza", "today goal", ...texts.map((t) => t.text)];
    const claraDir = `${dir}/clara`;
    const batched = await embedTexts("clara", inputs, { claraDir, batchLimits: { maxRows: 5 } });
    const alone = await embedTexts("clara", inputs.slice(0, 3), {
      claraDir,
      batchLimits: { maxRows: 1 },
    });
    // Left padding with key masks and per-row positions: a row batched equals the row alone up to
    // f32 rounding (one text of 1, 2 and 6 tokens: l = 1, 1, 3).
    for (let i = 0; i < 3 * 16; i++) {
      assert(Math.abs(batched.points.data[i] - alone.points.data[i]) < 1e-5, `element ${i}`);
    }
    // The row is the normalised mean of what the compressor outputs at the memory positions. The
    // embedder's copy has the compressor LoRA merged into the base weights: the same products
    // summed in another order, a few ulp on unit rows; 1e-4 is far below what a wrong adapter
    // (the generator's, or none) gives with these drawn adapters (≳ 1e-2).
    const { model } = await loadMemoryModel(claraDir);
    model.eval();
    const doc = documentIds(tokenizer, inputs[2], memory.docTokens);
    assertEquals(model.memoryCount(doc.length), 3);
    const out = noGrad(() => model.compress([doc]));
    const values = await out.data();
    out.dispose();
    model.dispose();
    const mean = Array.from(
      { length: 16 },
      (_, d) => (values[d] + values[16 + d] + values[32 + d]) / 3,
    );
    const norm = Math.hypot(...mean);
    for (let d = 0; d < 16; d++) {
      const got = batched.points.data[2 * 16 + d];
      assert(Math.abs(got - mean[d] / norm) < 1e-4, `dim ${d}: ${got} vs ${mean[d] / norm}`);
    }
    const cut = inputs.filter((t) => tokenizer.encode(t, false).length > 6).length;
    assertEquals(cut, texts.length);
    assert(batched.note.includes(`${cut} texts cut to 6 tokens`), batched.note);
    assert(batched.note.includes("1 memory per 2 tokens, at most 4"), batched.note);
    const [one, copies, other] = await batched.decoder!.decode([[2], [2, 2, 2], [0, 1]]);
    assertEquals(one, copies);
    assertEquals(typeof other, "string");
    batched.decoder!.dispose();
    alone.decoder!.dispose();
    const report = await runClustering({
      texts: texts.map((t) => ({ text: t.text, label: t.topic, facets: {} })),
      source: "topics",
      embedder: "clara",
      claraDir,
      method: "kmeans",
      params: { k: 3 },
      projection: "pca",
      out: `${dir}/out`,
      log: () => {},
    });
    assertEquals(report.scores.clusters, 3);
    assert(report.embedderNote.includes("pretrain compressor"), report.embedderNote);
    const nodes = JSON.parse(Deno.readTextFileSync(`${dir}/out/hierarchy.json`)) as HierarchyNode[];
    assert(
      nodes.every((n) => typeof n.label.decoded === "string"),
      "every node has a decoded label",
    );
  },
);

gpuTest(
  "clara embedder: no directory, or a base-LM directory, is refused with what was expected",
  async () => {
    const dir = Deno.makeTempDirSync();
    await tinyClaraDir(dir, { memoryTokens: 2, rank: 2, docTokens: 6 });
    let message = "";
    for (const claraDir of [undefined, `${dir}/lm`]) {
      try {
        await embedTexts("clara", ["pizza"], { claraDir });
      } catch (e) {
        message += (e as Error).message + "\n";
      }
    }
    assert(message.includes("--embedder clara needs --clara DIR"), message);
    assert(
      message.includes(
        `${dir}/lm/config.json: format "fast-clara-lm/1", expected "fast-clara-memory/1"`,
      ),
      message,
    );
  },
);
