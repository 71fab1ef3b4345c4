import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { gpuTest, withTempDir } from "./helpers.ts";
import { models, nn, noGrad, ops, optim, randn, type Tensor, tensor, tidy } from "../mod.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { LM_FORMAT, saveLmModel } from "../tasks/clara/model_dir.ts";
import { loadClaraMemoryModel } from "../tasks/clara/memory_model.ts";

const V = 13;

// Tolerance between a batched, padded or cached pass and the same rows computed alone or in
// full: the same f32 ops over other shapes, which an adapter may tile and sum in another order
// (a few ulp at |x| ≲ 3; masked keys weigh exactly 0). 1e-4 is ~100× that and far below what a
// wrong position, mask, phase or adapter gives (≳ 1e-2 for these random weights).
const TOL = 1e-4;

/** A two-layer base LM with a lively token table (std 1: at 0.02 a random model repeats a token). */
function tinyBase(seed: number, positions: nn.PositionKind = "rotary"): nn.DecoderOnly {
  const base = new nn.DecoderOnly({
    vocabSize: V,
    dim: 16,
    heads: 2,
    hidden: 32,
    layers: 2,
    maxLength: 48,
    positions,
    dropout: 0,
    seed,
  });
  const table = randn([V, 16], { seed: seed + 1 });
  base.loadStateDict({ "stack.embed.tokens.weight": table }, false);
  table.dispose();
  return base.eval();
}

/** Draws every LoRA B (zero at init) so that both adapters change what their phase computes. */
function liveAdapters(model: nn.Module, seed: number): void {
  const state = Object.fromEntries(
    model.namedParameters().filter(([n]) => /\.lora_\w+\.B$/.test(n)).map((
      [n, p],
      i,
    ) => [n, randn([...p.shape], { std: 0.3, seed: seed + i })]),
  );
  assert(Object.keys(state).length > 0, "the model has adapters");
  model.loadStateDict(state, false);
  for (const t of Object.values(state)) t.dispose();
}

function clara(
  base: nn.DecoderOnly,
  options: Partial<models.MemoryFromBaseOptions> = {},
): models.MemoryLM {
  const model = models.MemoryLM.fromDecoderOnly(base, { memoryTokens: 4, rank: 2, ...options });
  liveAdapters(model, 77);
  return model.eval();
}

async function host(t: Tensor): Promise<number[]> {
  const values = Array.from(await t.data());
  t.dispose();
  return values;
}

function maxDiff(a: readonly number[], b: readonly number[]): number {
  assertEquals(a.length, b.length, "lengths");
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

const DOCS = [[3, 5, 7, 2, 9, 4], [8, 1, 6]];
const OTHER_DOCS = [[4, 4, 10, 11, 1, 2], [7, 7, 3]];
const PROMPTS = [[5, 6], [9, 2, 11]];

gpuTest(
  "memory LM bottleneck: with the memory fixed the decoder's output ignores the document",
  async () => {
    const base = tinyBase(3);
    const model = clara(base);
    const logitsOf = (memory: Tensor) =>
      noGrad(() =>
        tidy(() => {
          const ids = tensor([5, 6, 1, 9, 2, 11], [2, 3], "i32");
          return model.generateLogits(memory, ids, tensor([1, 1, 0, 1, 1, 1], [2, 3]));
        })
      );
    const memory = noGrad(() => model.compress(DOCS));
    const first = await host(logitsOf(memory));
    // Compress other documents in between (phase switches, other activations), then decode the
    // same memory again: bit-identical, since the decoder reads nothing but memory and prompt.
    const other = noGrad(() => model.compress(OTHER_DOCS));
    assertEquals(await host(logitsOf(memory)), first, "memory fixed: documents do not matter");
    const reencoded = await host(logitsOf(other));
    assert(maxDiff(reencoded, first) > 1e-2, "other documents' memory changes the output");
    for (const t of [memory, other]) t.dispose();
    model.dispose();
    base.dispose();
  },
);

gpuTest(
  "memory LM: memory after the document under causal attention leaves the document states the base LM's",
  async () => {
    const base = tinyBase(4);
    const model = models.MemoryLM.fromDecoderOnly(base, { memoryTokens: 3, rank: 2 }).eval();
    const doc = DOCS[0];
    const [text, baseHidden, bidirectionalText] = noGrad(() =>
      tidy(() => {
        const ids = tensor(doc, [1, doc.length], "i32");
        const padding = tensor(new Array(doc.length).fill(1), [1, doc.length]);
        const bidirectional = models.MemoryLM.fromDecoderOnly(base, {
          memoryTokens: 3,
          rank: 2,
          encoderAttention: "bidirectional",
        }).eval();
        const seen = bidirectional.encode(ids, padding).text;
        bidirectional.dispose();
        return [model.encode(ids, padding).text, base.hidden(base.embed(ids)), seen];
      })
    );
    const [a, b, c] = [await host(text), await host(baseHidden), await host(bidirectionalText)];
    // Zero-initialised adapters: the compressor is the base until trained.
    assert(maxDiff(a, b) < TOL, `document states ${maxDiff(a, b)} from the base LM's`);
    assert(maxDiff(c, b) > 1e-2, "bidirectional: the document sees the memory tokens");
    model.dispose();
    base.dispose();
  },
);

gpuTest(
  "memory LM: l = ⌈T / rate⌉ memory tokens, capped; a padded batch compresses each document as alone",
  async () => {
    const base = tinyBase(5, "learned");
    for (
      const [placement, memoryLayout] of [
        ["after", "appended"],
        ["before", "appended"],
        ["after", "chunked"],
      ] as const
    ) {
      const model = clara(base, {
        memoryTokens: 6,
        compressionRate: 2,
        memoryPlacement: placement,
        memoryLayout,
      });
      assertEquals([1, 2, 3, 6, 10, 13].map((t) => model.memoryCount(t)), [1, 1, 2, 3, 5, 6]);
      const batch = noGrad(() => model.compress(DOCS));
      assertEquals(batch.shape, [2, 3, 16], "l from the longest document: ⌈6 / 2⌉");
      const rows = await host(batch);
      const alone = [
        ...(await host(noGrad(() => model.compress([DOCS[0]], 3)))),
        ...(await host(noGrad(() => model.compress([DOCS[1]], 3)))),
      ];
      assert(
        maxDiff(rows, alone) < TOL,
        `${placement}, ${memoryLayout}: batch vs alone ${maxDiff(rows, alone)}`,
      );
      const fewer = noGrad(() => model.compress(DOCS, 2));
      assertEquals(fewer.shape, [2, 2, 16], "l chosen per call");
      fewer.dispose();
      assertThrows(() => noGrad(() => model.compress(DOCS, 7)), "1…6");
      model.dispose();
    }
    base.dispose();
  },
);

gpuTest(
  "memory LM: base frozen, the compressor LoRA trains only in the encoder phase and the generator's only in the decoder phase",
  async () => {
    const base = tinyBase(6);
    const model = clara(base);
    model.train();
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    assert(trainable.length > 2, "adapters and memory embeddings train");
    for (const name of trainable) {
      assert(
        /\.lora_(compressor|generator)\.[AB]$/.test(name) || name === "memory_embeddings.weight",
        `only adapters and memory embeddings train, not ${name}`,
      );
    }
    const named = new Map(model.namedParameters());
    const group = (re: RegExp) => [...named].filter(([n]) => re.test(n)).map(([, p]) => p);
    const compressor = group(/lora_compressor/);
    const generator = group(/lora_generator/);
    const frozen = group(/^(backbone|head)\.(?!.*lora_)/);
    assert(frozen.length > 10, "the base's weights are there");
    const hasGrad = async (ps: Tensor[]) => {
      for (const p of ps) if (p.grad && (await p.grad.data()).some((x) => x !== 0)) return true;
      return false;
    };
    const clear = () =>
      named.forEach((p) => {
        p.grad?.dispose();
        p.grad = null;
      });
    const batch = () => {
      const b = models.documentBatch(DOCS, 4, "after");
      return { ...b, ...model.encode(b.ids, b.padding, { positionIds: b.positionIds }) };
    };

    // Encoder phase alone: the alignment loss.
    tidy(() => {
      const { memory, text, padding } = batch();
      model.alignmentLoss(memory, text, padding).backward();
    });
    assert(await hasGrad(compressor), "the compressor receives a gradient");
    assert(await hasGrad([named.get("memory_embeddings.weight")!]), "memory embeddings too");
    assert(!(await hasGrad(generator)), "the generator takes no part in compression");
    clear();

    // Decoder phase alone: next-token loss from a fixed memory.
    tidy(() => {
      const memory = batch().memory.detach();
      const ids = tensor([5, 6, 1, 9, 2, 11], [2, 3], "i32");
      const logits = model.generateLogits(memory, ids, tensor([1, 1, 1, 1, 1, 1], [2, 3]));
      nn.sequenceCrossEntropy(logits, tensor([6, 1, 2, 2, 11, 3], [2, 3], "i32")).backward();
    });
    assert(await hasGrad(generator), "the generator receives a gradient");
    assert(!(await hasGrad(compressor)), "the compressor takes no part in decoding");
    clear();

    // A full step moves adapters and memory, never the base.
    const before = await Promise.all(frozen.map((p) => p.data()));
    const adaptersBefore = await Promise.all([...compressor, ...generator].map((p) => p.data()));
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    tidy(() => {
      const { memory, text, padding } = batch();
      const ids = tensor([5, 6, 1, 9, 2, 11], [2, 3], "i32");
      const logits = model.generateLogits(memory, ids, tensor([1, 1, 1, 1, 1, 1], [2, 3]));
      const ce = nn.sequenceCrossEntropy(logits, tensor([6, 1, 2, 2, 11, 3], [2, 3], "i32"));
      ops.add(ce, ops.mul(model.alignmentLoss(memory, text, padding), 0.1)).backward();
    });
    assert(frozen.every((p) => p.grad === null), "no gradient reaches a base weight");
    opt.step();
    const after = await Promise.all(frozen.map((p) => p.data()));
    after.forEach((a, i) => assertEquals(Array.from(a), Array.from(before[i]), "base unchanged"));
    const adaptersAfter = await Promise.all([...compressor, ...generator].map((p) => p.data()));
    assert(
      adaptersAfter.some((a, i) => a.some((x, j) => x !== adaptersBefore[i][j])),
      "the adapters moved",
    );
    opt.dispose();
    model.dispose();
    base.dispose();
  },
);

gpuTest(
  "memory LM generation from a memory prefix with the KV cache equals full recomputation",
  async () => {
    const base = tinyBase(7);
    const model = clara(base);
    const memory = noGrad(() => model.compress(DOCS));
    const eos = 0;
    const { tokens, scores } = await model.generate(memory, PROMPTS, { eos, maxNewTokens: 6 });
    const rows = noGrad(() => [0, 1].map((r) => ops.slice(memory, 0, r, r + 1)));
    for (let r = 0; r < 2; r++) {
      const generated = tokens[r];
      const stop = generated.length < 6;
      let score = 0;
      for (let k = 0; k <= generated.length - (stop ? 0 : 1); k++) {
        const seq = [...PROMPTS[r], ...generated.slice(0, k)];
        const logits = noGrad(() =>
          tidy(() =>
            model.generateLogits(
              rows[r],
              tensor(seq, [1, seq.length], "i32"),
              tensor(new Array(seq.length).fill(1), [1, seq.length]),
            )
          )
        );
        const all = await host(logits);
        const last = all.slice((seq.length - 1) * V, seq.length * V);
        const top = Math.max(...last);
        const logZ = top + Math.log(last.reduce((z, x) => z + Math.exp(x - top), 0));
        const want = k < generated.length ? generated[k] : eos;
        assertEquals(last.indexOf(top), want, `row ${r} token ${k}: the argmax of recomputation`);
        score += last[want] - logZ;
      }
      assert(Math.abs(score - scores[r]) < TOL, `row ${r} score ${scores[r]} vs ${score}`);
    }
    // The generator adapter is what generation runs: without it the tokens change.
    const bare = models.MemoryLM.fromDecoderOnly(base, { memoryTokens: 4, rank: 2 }).eval();
    liveAdapters(bare, 77);
    bare.loadStateDict({ "memory_embeddings.weight": model.memoryEmbeddings!.weight }, false);
    const state = Object.fromEntries(
      bare.namedParameters().filter(([n]) => n.includes("lora_generator.B")).map((
        [n, p],
      ) => [n, ops.mul(p, 0)]),
    );
    bare.loadStateDict(state, false);
    const plain = await bare.generate(memory, PROMPTS, { eos, maxNewTokens: 6 });
    assert(
      JSON.stringify(plain.scores) !== JSON.stringify(scores),
      "the generator LoRA changes generation",
    );
    for (const t of [...Object.values(state), ...rows, memory]) t.dispose();
    bare.dispose();
    model.dispose();
    base.dispose();
  },
);

gpuTest(
  "memory LM from a stage-lm base directory: weights mapped by name, the generator starts as the base",
  async () => {
    await withTempDir(async (dir) => {
      const base = tinyBase(8);
      const tokenizer = new TextTokenizer(
        trainWordPiece(["a tiny corpus for a tiny base", "a base of tiny words"], {
          vocabSize: 40,
        }),
      );
      await saveLmModel(`${dir}/base`, base, {
        format: LM_FORMAT,
        model: base.config,
        seqLen: 16,
      }, tokenizer);
      const { model, base: run, tokenizer: loaded } = await loadClaraMemoryModel(`${dir}/base`, {
        memoryTokens: 4,
        rank: 2,
      });
      assertEquals(run.seqLen, 16);
      assertEquals(loaded.vocabSize, tokenizer.vocabSize);
      const own = new Map(model.namedParameters());
      for (const [name, p] of base.namedParameters()) {
        const mapped = name.replace(/^stack\./, "backbone.");
        assertEquals(
          Array.from(await own.get(mapped)!.data()),
          Array.from(await p.data()),
          `${name} → ${mapped}`,
        );
      }
      // Untrained (zero) adapters: decoding memory ⊕ prompt is the base LM on the same vectors.
      const [mine, theirs] = noGrad(() =>
        tidy(() => {
          const memory = randn([1, 4, 16], { seed: 9 });
          const ids = tensor([3, 4, 5], [1, 3], "i32");
          const states = model.eval().decode(memory, ids, tensor([1, 1, 1], [1, 3]));
          const whole = base.hidden(ops.concat([memory, base.embed(ids)], 1));
          return [model.logits(states), base.logits(ops.slice(whole, 1, 4, 7))];
        })
      );
      const [a, b] = [await host(mine), await host(theirs)];
      assert(maxDiff(a, b) < TOL, `decoder vs base: ${maxDiff(a, b)}`);
      model.dispose();

      Deno.mkdirSync(`${dir}/bad`);
      Deno.writeTextFileSync(`${dir}/bad/config.json`, '{"format": "something-else"}');
      const error = await assertRejects(
        () => loadClaraMemoryModel(`${dir}/bad`, { memoryTokens: 4, rank: 2 }),
        Error,
      );
      assert(error.message.includes(`${dir}/bad/config.json`), error.message);
      base.dispose();
    });
  },
);

gpuTest(
  "documentBatch: memory after → left padding; positions count each row's real tokens, memory included",
  async () => {
    const after = models.documentBatch([[3, 4, 5], [6]], 2, "after", 9);
    assertEquals(Array.from(await after.ids.data()), [3, 4, 5, 9, 9, 6]);
    assertEquals(Array.from(await after.padding.data()), [1, 1, 1, 0, 0, 1]);
    assertEquals(Array.from(await after.positionIds.data()), [0, 1, 2, 3, 4, 0, 0, 0, 1, 2]);
    const before = models.documentBatch([[3, 4, 5], [6]], 2, "before", 9);
    assertEquals(Array.from(await before.ids.data()), [3, 4, 5, 6, 9, 9]);
    assertEquals(Array.from(await before.positionIds.data()), [0, 1, 2, 3, 4, 0, 1, 2, 0, 0]);
    assertEquals([after.chunks, before.chunks], [null, null]);
    // Chunked: 3 tokens in 2 chunks ({0, 1}, {2}), 1 token in 2 ({0} and an empty one); memory j
    // at the position of its chunk's last token.
    const chunked = models.documentBatch([[3, 4, 5], [6]], 2, "after", 9, "chunked");
    assertEquals(Array.from(await chunked.ids.data()), [3, 4, 5, 9, 9, 6]);
    assertEquals(Array.from(await chunked.positionIds.data()), [0, 1, 2, 1, 2, 0, 0, 0, 0, 0]);
    assertEquals(Array.from(await chunked.chunks!.data()), [
      ...[0.5, 0.5, 0, 0, 0, 1],
      ...[0, 0, 1, 0, 0, 0],
    ]);
    for (const b of [after, before, chunked]) {
      [b.ids, b.padding, b.positionIds, b.chunks].forEach((t) => t?.dispose());
    }
    assertThrows(() => models.documentBatch([], 2, "after"), "no documents");
    assertThrows(
      () => models.documentBatch([[1]], 1, "before", 0, "chunked"),
      "after the document",
    );
  },
);

gpuTest(
  "memory LM: compress, whose last layer computes the memory rows only, equals the full pass's memory",
  async () => {
    const base = tinyBase(8);
    for (
      const [memoryPlacement, encoderAttention, memoryLayout] of [
        ["after", "causal", "appended"],
        ["before", "bidirectional", "appended"],
        ["after", "causal", "chunked"],
      ] as const
    ) {
      const model = clara(base, {
        memoryPlacement,
        encoderAttention,
        memoryLayout,
        compressionRate: 2,
        memoryTokens: 6,
      });
      const l = model.memoryCount(6);
      const cheap = await host(noGrad(() => model.compress(DOCS)));
      const full = await host(noGrad(() =>
        tidy(() => {
          const b = model.documentBatch(DOCS, l);
          return model.encode(b.ids, b.padding, {
            memoryTokens: l,
            positionIds: b.positionIds,
            chunks: b.chunks,
          }).memory;
        })
      ));
      const label = `${memoryPlacement}, ${memoryLayout}`;
      assert(maxDiff(cheap, full) < TOL, `${label}: ${maxDiff(cheap, full)}`);
      if (memoryLayout === "chunked") {
        const b = model.documentBatch(DOCS, l);
        assertThrows(
          () => noGrad(() => model.encode(b.ids, b.padding, { memoryTokens: l })),
          "chunks",
        );
        // The seeding by hand: memory token j's input is its learned vector plus the mean of
        // its chunk's token embeddings (averaged on the host).
        const d = model.config.dim, t = b.ids.shape[1];
        const tokens = await host(noGrad(() => model.embed(b.ids)));
        const weights = await b.chunks!.data();
        const learned = await model.memoryEmbeddings!.weight.data();
        const seeded = new Float32Array(DOCS.length * l * d);
        for (let r = 0; r < DOCS.length; r++) {
          for (let j = 0; j < l; j++) {
            for (let k = 0; k < d; k++) {
              let v = learned[j * d + k];
              for (let i = 0; i < t; i++) {
                v += weights[(r * l + j) * t + i] * tokens[(r * t + i) * d + k];
              }
              seeded[(r * l + j) * d + k] = v;
            }
          }
        }
        const byHand = await host(noGrad(() =>
          tidy(() => {
            const x = ops.concat([model.embed(b.ids), tensor(seeded, [DOCS.length, l, d])], 1);
            const ones = tensor(new Float32Array(DOCS.length * l).fill(1), [DOCS.length, l]);
            const keys = ops.concat([b.padding, ones], 1);
            return model.encodeEmbeddings(x, keys, { memoryTokens: l, positionIds: b.positionIds })
              .memory;
          })
        ));
        assert(maxDiff(cheap, byHand) < TOL, `chunk seeding: ${maxDiff(cheap, byHand)}`);
        [b.ids, b.padding, b.positionIds, b.chunks].forEach((t) => t?.dispose());
      }
      model.dispose();
    }
    assertThrows(
      () => clara(base, { memoryPlacement: "before", memoryLayout: "chunked" }),
      "after",
    );
    base.dispose();
    // One layer: forwardRows equals the rows of forward, with a per-query bias and rotary ids.
    const layer = new nn.TransformerEncoderLayer({
      dim: 16,
      heads: 2,
      hidden: 32,
      dropout: 0,
      seed: 9,
    });
    const rotary = new nn.Rotary(16, 8);
    const x = randn([2, 5, 16], { seed: 10 });
    const bias = randn([2, 2, 5, 5], { seed: 11 });
    const ids = tensor(Int32Array.from([0, 1, 2, 3, 4, 2, 3, 4, 5, 6]), [2, 5], "i32");
    const masks = { bias, positions: rotary.apply, positionIds: ids };
    const rows = await host(noGrad(() => layer.forwardRows(x, 1, 3, masks)));
    const all = await host(noGrad(() => ops.slice(layer.forward(x, masks), 1, 1, 3)));
    assert(maxDiff(rows, all) < TOL, `forwardRows vs forward ${maxDiff(rows, all)}`);
    assertThrows(() => layer.forwardRows(x, 1, 3, { causal: true }), "causal rows must end");
    assertThrows(() => layer.forwardRows(x, 3, 3), "rows 3…3 of a sequence of 5");
    [x, bias, ids].forEach((t) => t.dispose());
    layer.dispose();
    rotary.dispose();
  },
);

/** Host mixture p over the vocabulary at one position: pGen·softmax(logits) + (1 − pGen)·copy. */
function mixtureAt(
  logits: readonly number[],
  pGen: number,
  weights: readonly number[],
  ids: readonly number[],
): number[] {
  const top = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - top));
  const z = e.reduce((a, b) => a + b, 0);
  const p = e.map((x) => pGen * x / z);
  weights.forEach((w, j) => (p[ids[j]] += (1 - pGen) * w));
  return p;
}

for (const copyFollow of [false, true]) {
  gpuTest(
    `memory LM prompt copy${
      copyFollow ? " with the follow bonus" : ""
    }: cached greedy decoding follows the teacher-forced mixture; the loss is its −log p; the head trains, the base does not`,
    () => promptCopyCase(copyFollow),
  );
}

async function promptCopyCase(copyFollow: boolean): Promise<void> {
  const base = tinyBase(9);
  const model = clara(base, { promptCopy: true, copyFollow });
  assert(model.pointer !== null, "the copy head is there");
  assertEquals(model.pointer.follow !== null, copyFollow);
  const memory = noGrad(() => model.compress(DOCS));
  const eos = 0;
  const { tokens, scores } = await model.generate(memory, PROMPTS, { eos, maxNewTokens: 5 });
  const rows = noGrad(() => [0, 1].map((r) => ops.slice(memory, 0, r, r + 1)));
  const read = (r: number, seq: number[]) =>
    noGrad(() =>
      tidy(() => {
        const ids = tensor(seq, [1, seq.length], "i32");
        const promptMask = seq.map((_, j) => (j < PROMPTS[r].length ? 1 : 0));
        const t = model.readTarget(rows[r], ids, tensor(seq.map(() => 1), [1, seq.length]), {
          promptMask: tensor(promptMask, [1, seq.length]),
        });
        return [t.logits, t.copy!.pGen, t.copy!.source.weights];
      })
    );
  for (let r = 0; r < 2; r++) {
    const generated = tokens[r];
    const stop = generated.length < 5;
    let score = 0;
    for (let k = 0; k <= generated.length - (stop ? 0 : 1); k++) {
      const seq = [...PROMPTS[r], ...generated.slice(0, k)];
      const [logits, pGen, weights] = await Promise.all(read(r, seq).map(host));
      const t = seq.length - 1;
      const p = mixtureAt(
        logits.slice(t * V, (t + 1) * V),
        pGen[t],
        weights.slice(t * seq.length, (t + 1) * seq.length),
        seq,
      );
      const want = k < generated.length ? generated[k] : eos;
      assertEquals(p.indexOf(Math.max(...p)), want, `row ${r} token ${k}: the mixture's argmax`);
      score += Math.log(p[want]);
    }
    assert(Math.abs(score - scores[r]) < TOL, `row ${r} score ${scores[r]} vs ${score}`);
  }

  // The training loss is the mean −log p of the same mixture at the labelled positions.
  const seq = [...PROMPTS[1], 4, 8];
  const labels = [-100, -100, 4, 8, 0];
  const [logits, pGen, weights] = await Promise.all(read(1, seq).map(host));
  let want = 0;
  for (let t = 2; t < seq.length; t++) {
    const p = mixtureAt(
      logits.slice(t * V, (t + 1) * V),
      pGen[t],
      weights.slice(t * seq.length, (t + 1) * seq.length),
      seq,
    );
    want -= Math.log(p[labels[t]]) / 3;
  }
  const named = new Map(model.namedParameters());
  const loss = tidy(() => {
    const ids = tensor(seq, [1, 5], "i32");
    const t = model.readTarget(rows[1], ids, tensor([1, 1, 1, 1, 1], [1, 5]), {
      promptMask: tensor([1, 1, 1, 0, 0], [1, 5]),
    });
    const nll = model.targetNll(t, tensor(labels, [1, 5], "i32"), -100);
    nll.backward();
    return nll.detach();
  });
  const [got] = await host(loss);
  // f32 softmax and log over 13 classes against the f64 host mixture: ~1e-6 relative.
  assert(Math.abs(got - want) < 1e-4, `copy loss ${got} vs host ${want}`);
  for (const [n, p] of named) {
    if (n.startsWith("pointer.")) {
      assert(p.requiresGrad && p.grad !== null, `${n} trains`);
    } else if (!/lora_|memory_embeddings/.test(n)) {
      assert(!p.requiresGrad && p.grad === null, `${n} stays frozen`);
    }
  }

  // With the switch pinned to copying, every generated token comes out of the prompt.
  const bias = named.get("pointer.gen.bias")!;
  model.loadStateDict({ "pointer.gen.bias": tensor([-30], [...bias.shape]) }, false);
  const copied = await model.generate(memory, PROMPTS, { eos, maxNewTokens: 4 });
  copied.tokens.forEach((row, r) =>
    assert(row.length > 0 && row.every((id) => PROMPTS[r].includes(id)), `row ${r}: ${row}`)
  );
  if (copyFollow) {
    // A huge follow bonus: after its first pick each row copies the prompt on, in order (the
    // prompts' ids are distinct, so "the token after the one just read" is one position).
    model.loadStateDict({ "pointer.follow": tensor([40], [1]) }, false);
    const spans = await model.generate(memory, PROMPTS, { eos, maxNewTokens: 3 });
    spans.tokens.forEach((row, r) => {
      const at = PROMPTS[r].indexOf(row[0]);
      assert(at >= 0, `row ${r} starts with a prompt token: ${row}`);
      const last = PROMPTS[r].at(-1)!;
      const want = [row[0]];
      for (let j = at + 1; j < PROMPTS[r].length && want.length < row.length; j++) {
        want.push(PROMPTS[r][j]);
      }
      // After the prompt's last token nothing follows: the pointer is free again there.
      assertEquals(row.slice(0, want.length), want, `row ${r}: ${row} (last ${last})`);
    });
  }
  const beams = await assertRejects(
    () => model.generate(memory, PROMPTS, { eos, maxNewTokens: 2, beams: 2 }),
    Error,
  );
  assert(beams.message.includes("decodes greedily"), beams.message);
  for (const t of [...rows, memory]) t.dispose();
  model.dispose();
  base.dispose();
}

gpuTest(
  "memory LM rowTargetNll: each row's value is targetNll of that row alone, with and without the copy head",
  async () => {
    for (const promptCopy of [false, true]) {
      const model = clara(tinyBase(12), { promptCopy });
      const memory = noGrad(() => model.compress(DOCS));
      // Row 0 labels three positions, row 1 one: a batch-wide mean would weigh them 3 : 1.
      const seqs = [[5, 6, 4, 8, 1], [9, 2, 11, 3, 0]];
      const labels = [[-100, 4, 8, 1, 7], [-100, -100, -100, -100, 2]];
      const masks = [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0]];
      const read = (rows: number[]) =>
        model.readTarget(
          ops.concat(rows.map((r) => ops.slice(memory, 0, r, r + 1)), 0),
          tensor(rows.flatMap((r) => seqs[r]), [rows.length, 5], "i32"),
          tensor(rows.flatMap(() => [1, 1, 1, 1, 1]), [rows.length, 5]),
          { promptMask: tensor(rows.flatMap((r) => masks[r]), [rows.length, 5]) },
        );
      const labelsOf = (rows: number[]) =>
        tensor(rows.flatMap((r) => labels[r]), [rows.length, 5], "i32");
      const both = await host(
        noGrad(() => tidy(() => model.rowTargetNll(read([0, 1]), labelsOf([0, 1]), -100))),
      );
      assertEquals(both.length, 2);
      for (const r of [0, 1]) {
        const [alone] = await host(
          noGrad(() => tidy(() => model.targetNll(read([r]), labelsOf([r]), -100))),
        );
        assert(
          Math.abs(both[r] - alone) < TOL,
          `copy ${promptCopy} row ${r}: ${both[r]} vs ${alone}`,
        );
      }
      assert(Math.abs(both[0] - both[1]) > 1e-2, "the two rows' losses differ");
      model.dispose();
    }
  },
);
