import { assert, assertEquals, assertRejects } from "./assert.ts";
import { assertClose, gpuTest } from "./helpers.ts";
import { counters, nn, ops, poolStats, randn, Rng, type Tensor, tensor, tidy } from "../mod.ts";

// Tolerance of cached vs full-recomputation logits and scores: both paths run the same f32 ops on
// the same weights, but as products of other shapes (one query row against a growing cache,
// against all rows at once), which an adapter may tile and sum in another order: a few ulp at
// |logit| ≲ 3. (On lavapipe the two agree bit for bit: max |Δ| = 0 over the logits of the first
// test, measured.) 1e-4 leaves ~100× the ulp-level gap and stays below what a wrong position,
// mask or cache row gives (the sensitivity checks below: ≳ 3e-3 even for these random models).
const TOL = 1e-4;

/** Embedding tables redrawn at std 1: at the default 0.02 a random model repeats one token. */
function lively<M extends nn.Module>(model: M, seed: number): M {
  const state = Object.fromEntries(
    model.namedParameters().filter(([name]) => name.includes("embed")).map((
      [name, p],
      i,
    ) => [name, randn([...p.shape], { seed: seed + i })]),
  );
  model.loadStateDict(state, false);
  for (const t of Object.values(state)) t.dispose();
  return model;
}

function tinyLm(positions: nn.PositionKind, seed: number, vocabSize = 11): nn.DecoderOnly {
  return lively(
    new nn.DecoderOnly({
      vocabSize,
      dim: 16,
      heads: 2,
      hidden: 32,
      layers: 2,
      maxLength: 24,
      positions,
      seed,
    }),
    seed + 100,
  );
}

function logSoftmaxRow(x: ArrayLike<number>, start: number, v: number): number[] {
  let m = -Infinity;
  for (let j = 0; j < v; j++) m = Math.max(m, x[start + j]);
  let z = 0;
  for (let j = 0; j < v; j++) z += Math.exp(x[start + j] - m);
  return Array.from({ length: v }, (_, j) => x[start + j] - m - Math.log(z));
}

/**
 * Last-position log-probabilities of each sequence after a [1, P, D] prefix, by a full forward
 * pass (no cache); `prefixMask` [P] marks padded prefix vectors with 0.
 */
async function fullLogProbs(
  model: nn.DecoderOnly,
  prefix: Tensor | null,
  seqs: number[][],
  prefixMask?: number[],
): Promise<number[][]> {
  const v = model.config.vocabSize;
  const out: number[][] = [];
  for (const seq of seqs) {
    const t = seq.length;
    const logits = tidy(() => {
      const parts = prefix ? [prefix] : [];
      if (t) parts.push(model.embed(tensor(seq, [1, t], "i32")));
      const x = parts.length === 1 ? parts[0] : ops.concat(parts, 1);
      const padding = prefixMask
        ? tensor([...prefixMask, ...new Array(t).fill(1)], [1, x.shape[1]])
        : undefined;
      return model.logits(model.hidden(x, padding));
    });
    const host = await logits.data();
    out.push(logSoftmaxRow(host, (logits.shape[1] - 1) * v, v));
    logits.dispose();
  }
  return out;
}

/** max |a[i] − b[i]| over the first n entries. */
function maxGap(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let gap = 0;
  for (let i = 0; i < n; i++) gap = Math.max(gap, Math.abs(a[i] - b[i]));
  return gap;
}

/** The k-th row of a [B, P, D] prefix as [1, P, D]. */
function rowOf(prefix: Tensor, k: number): Tensor {
  return ops.slice(prefix, 0, k, k + 1);
}

/** Reference greedy decoding: argmax on the host of `next`, the log-probabilities after a prefix. */
async function referenceGreedy(
  next: (seq: number[]) => Promise<number[]> | number[],
  eos: number,
  maxNew: number,
): Promise<{ tokens: number[]; score: number }> {
  const tokens: number[] = [];
  let score = 0;
  for (let i = 0; i < maxNew; i++) {
    const lp = await next(tokens);
    const pick = lp.indexOf(Math.max(...lp));
    score += lp[pick];
    if (pick === eos) break;
    tokens.push(pick);
  }
  return { tokens, score };
}

/** `next` of {@linkcode referenceGreedy} for row r of a decoder-only model: a full forward pass. */
function fullNext(
  model: nn.DecoderOnly,
  prefix: Tensor,
  r: number,
  prompt: number[],
  prefixMask?: number[],
) {
  return async (seq: number[]) =>
    (await fullLogProbs(model, rowOf(prefix, r), [[...prompt, ...seq]], prefixMask))[0];
}

for (const positions of ["learned", "rotary"] as const) {
  gpuTest(
    `KV-cache logits equal full recomputation (${positions} positions, memory prefix)`,
    async () => {
      const model = tinyLm(positions, 7);
      const v = model.config.vocabSize;
      const prefix = randn([2, 3, 16], { seed: 8 });
      const ids = [[3, 4, 5, 6, 7, 8], [9, 1, 2, 3, 10, 4]];
      const full = tidy(() => {
        const x = ops.concat([prefix, model.embed(tensor(ids.flat(), [2, 6], "i32"))], 1);
        return model.logits(model.hidden(x));
      });
      const cache = model.newCache(2);
      const parts: Tensor[] = [];
      parts.push(tidy(() => {
        const first = tensor(ids.map((r) => r.slice(0, 2)).flat(), [2, 2], "i32");
        const x = ops.concat([prefix, model.embed(first)], 1);
        return model.logits(model.hiddenCached(x, cache, cache.advance(5)));
      }));
      for (let t = 2; t < 6; t++) {
        parts.push(tidy(() => {
          const next = tensor(ids.map((r) => r[t]), [2, 1], "i32");
          return model.logits(model.hiddenCached(model.embed(next), cache, cache.advance(1)));
        }));
      }
      assertEquals(cache.length, 9);
      const cached = tidy(() => ops.concat(parts, 1));
      assertEquals(cached.shape, [2, 9, v]);
      assertClose(await cached.data(), await full.data(), TOL, TOL, "cached logits");
      // The check can fail: the token of position 5 decoded without its cached past differs.
      const alone = tidy(() => {
        const c = model.newCache(2);
        const next = tensor(ids.map((r) => r[2]), [2, 1], "i32");
        const out = model.logits(model.hiddenCached(model.embed(next), c, c.advance(1)));
        c.dispose();
        return out;
      });
      // Row 0, position 5 of the full pass against row 0 decoded alone.
      const gap = maxGap(await alone.data(), (await full.data()).slice(5 * v, 6 * v), v);
      assert(gap > 100 * TOL, `decoding without the cache should change the logits, gap ${gap}`);
      for (const t of [full, cached, alone, prefix, ...parts]) t.dispose();
      cache.dispose();
      model.dispose();
    },
  );
}

gpuTest(
  "greedy generate equals full recomputation per row; rows of different prompt lengths batch; EOS stops a row",
  async () => {
    const model = tinyLm("rotary", 11);
    const prefix = randn([3, 2, 16], { seed: 12 });
    const prompts = [[3, 4, 5, 6], [7], [8, 9]];
    const maxNew = 6;
    const refs: { tokens: number[]; score: number }[] = [];
    for (let r = 0; r < 3; r++) {
      refs.push(await referenceGreedy(fullNext(model, prefix, r, prompts[r]), -1, maxNew));
    }
    // An EOS the model really emits: the first token of row 0 not seen before it (not at the start);
    // every row stops at its first occurrence.
    const first = refs[0].tokens.findIndex((tok, i) =>
      i > 0 && !refs[0].tokens.slice(0, i).includes(tok)
    );
    assert(first > 0, `row 0 repeats one token: ${refs[0].tokens}`);
    const eos = refs[0].tokens[first];
    const want = [];
    for (let r = 0; r < 3; r++) {
      want.push(await referenceGreedy(fullNext(model, prefix, r, prompts[r]), eos, maxNew));
    }
    assertEquals(want[0].tokens.length, first);
    const got = await model.generate(prompts, { eos, maxNewTokens: maxNew, prefix });
    assertEquals(got.tokens, want.map((w) => w.tokens));
    assertClose(got.scores, want.map((w) => w.score), TOL, TOL, "greedy scores");
    // Each row alone gives the same as in the batch.
    for (let r = 0; r < 3; r++) {
      const alone = await model.generate([prompts[r]], {
        eos,
        maxNewTokens: maxNew,
        prefix: rowOf(prefix, r),
      });
      assertEquals(alone.tokens[0], got.tokens[r], `row ${r} alone`);
    }
    // maxNewTokens caps every row; 0 generates nothing.
    const short = await model.generate(prompts, { eos, maxNewTokens: 1, prefix });
    assertEquals(short.tokens, want.map((w) => w.tokens.slice(0, 1)));
    assertEquals((await model.generate(prompts, { eos, maxNewTokens: 0, prefix })).tokens, [
      [],
      [],
      [],
    ]);
    prefix.dispose();
    model.dispose();
  },
);

gpuTest(
  "greedy and beam steps read back once per token and record O(layers) dispatches",
  async () => {
    const perStep: number[] = [];
    for (const layers of [1, 3]) {
      const model = new nn.DecoderOnly({
        vocabSize: 40,
        dim: 16,
        heads: 2,
        layers,
        maxLength: 40,
        seed: 5,
      });
      // EOS: a token the model does not emit within 8 tokens, so that every row runs to the cap.
      const probe = await model.generate([[3, 4], [5, 6]], { eos: 0, maxNewTokens: 8 });
      const eos = [...Array(40).keys()].find((t) => !probe.tokens.flat().includes(t))!;
      const count = async (maxNewTokens: number, beams: number) => {
        const before = { ...counters };
        const out = await model.generate([[3, 4], [5, 6]], { eos, maxNewTokens, beams });
        return {
          out,
          syncs: counters.syncs - before.syncs,
          dispatches: counters.dispatches - before.dispatches,
        };
      };
      const a = await count(4, 1), b = await count(8, 1);
      assertEquals(a.out.tokens.map((t) => t.length), [4, 4]);
      assertEquals(b.out.tokens.map((t) => t.length), [8, 8]);
      assertEquals([a.syncs, b.syncs], [4, 8], "greedy: one sync per token");
      perStep.push((b.dispatches - a.dispatches) / 4);
      const c = await count(4, 3), d = await count(8, 3);
      assert(
        c.syncs <= 4 && d.syncs <= 8,
        `beam: at most one sync per token (${c.syncs}, ${d.syncs})`,
      );
      model.dispose();
    }
    // Dispatches per token grow by a fixed amount per layer (≈ 30), not with the sequence length.
    const perLayer = (perStep[1] - perStep[0]) / 2;
    assert(perLayer > 10 && perLayer < 60, `dispatches per layer per token ${perLayer}`);
    assert(perStep[0] < 100, `dispatches per token of a 1-layer model ${perStep[0]}`);
  },
);

/**
 * A decoder whose next-token distribution depends only on the last token: row a of `logProbs`
 * ([V][V], each row a log-distribution) follows token a. No layers, an empty cache.
 */
class MarkovDecoder implements nn.CachedDecoder {
  readonly vocabSize: number;
  readonly #identity: Tensor;
  readonly #table: Tensor;

  constructor(readonly logProbs: number[][]) {
    const v = logProbs.length;
    this.vocabSize = v;
    const eye = Array.from({ length: v * v }, (_, i) => (i % (v + 1) === 0 ? 1 : 0));
    this.#identity = tensor(eye, [v, v]);
    this.#table = tensor(logProbs.flat(), [v, v]);
  }
  embed(ids: Tensor): Tensor {
    return ops.embedding(this.#identity, ids);
  }
  newCache(rows: number): nn.KVCache {
    return new nn.KVCache(rows, 0);
  }
  hiddenCached(x: Tensor): Tensor {
    return x.reshape(x.shape);
  }
  logits(hidden: Tensor): Tensor {
    return ops.matmul(hidden, this.#table);
  }
  dispose(): void {
    this.#identity.dispose();
    this.#table.dispose();
  }
}

/** The best sequence by brute force over every continuation (EOS ends one; maxNew caps it). */
function exhaustive(
  next: (seq: number[]) => number[],
  eos: number,
  maxNew: number,
  penalty: number,
): { tokens: number[]; score: number } {
  let best = { tokens: [] as number[], score: -Infinity };
  const visit = (seq: number[], raw: number) => {
    const lp = next(seq);
    lp.forEach((l, tok) => {
      const length = seq.length + 1;
      const total = raw + l;
      if (tok === eos || length === maxNew) {
        const score = total / length ** penalty;
        const tokens = tok === eos ? seq : [...seq, tok];
        if (score > best.score) best = { tokens, score };
      } else visit([...seq, tok], total);
    });
  };
  visit([], 0);
  return best;
}

const log = Math.log;

gpuTest(
  "beam search finds the best sequence where greedy does not (hand-made distribution)",
  async () => {
    // Tokens: 0 = EOS, 1 = start, 2 = A, 3 = B. After start: A 0.6, B 0.4. After A: all four 0.25.
    // After B: EOS 0.9. Greedy takes A (0.6 · 0.25 = 0.15); the best is B EOS (0.4 · 0.9 = 0.36).
    const p = [
      [0.25, 0.25, 0.25, 0.25],
      [0.001, 0.001, 0.6, 0.398],
      [0.25, 0.25, 0.25, 0.25],
      [0.9, 0.05, 0.025, 0.025],
    ];
    const decoder = new MarkovDecoder(p.map((row) => row.map(log)));
    const options = { eos: 0, maxNewTokens: 4 };
    const greedy = await nn.generate(decoder, { prompts: [[1]] }, options);
    assertEquals(greedy.tokens, [[2]], "greedy: A, then EOS (first of four ties)");
    assertClose(greedy.scores, [log(0.6) + log(0.25)], 1e-5, 1e-5, "greedy score");
    const beam = await nn.generate(decoder, { prompts: [[1], [3]] }, { ...options, beams: 2 });
    assertEquals(beam.tokens, [[3], []]);
    assertClose(beam.scores, [log(0.398) + log(0.9), log(0.9)], 1e-5, 1e-5, "beam scores");
    decoder.dispose();
  },
);

gpuTest(
  "beam search with enough beams equals exhaustive search (random distributions, length penalties)",
  async () => {
    const rng = new Rng(41);
    const v = 4, maxNew = 3;
    for (let trial = 0; trial < 3; trial++) {
      const table = Array.from({ length: v }, () => {
        const w = Array.from({ length: v }, () => Math.exp(3 * rng.next()));
        const z = w.reduce((a, b) => a + b);
        return w.map((x) => log(x / z));
      });
      const decoder = new MarkovDecoder(table);
      for (const penalty of [0, 1, 2]) {
        // 9 beams hold every unfinished prefix of length ≤ 2 of 3 non-EOS tokens: the search is exact.
        const got = await nn.generate(decoder, { prompts: [[1], [2, 3]] }, {
          eos: 0,
          maxNewTokens: maxNew,
          beams: 9,
          lengthPenalty: penalty,
        });
        [[1], [2, 3]].forEach((prompt, r) => {
          const want = exhaustive((seq) => table[[...prompt, ...seq].at(-1)!], 0, maxNew, penalty);
          assertEquals(got.tokens[r], want.tokens, `trial ${trial} penalty ${penalty} row ${r}`);
          assertClose([got.scores[r]], [want.score], 1e-5, 1e-5, "score");
        });
      }
      decoder.dispose();
    }
  },
);

/** Log-probabilities after every continuation of length < maxNew, by `next`. */
async function tableOf(
  next: (seq: number[]) => Promise<number[]>,
  v: number,
  maxNew: number,
): Promise<(seq: number[]) => number[]> {
  const table = new Map<string, number[]>();
  let frontier: number[][] = [[]];
  for (let length = 0; length < maxNew; length++) {
    for (const seq of frontier) table.set(seq.join(), await next(seq));
    frontier = frontier.flatMap((seq) => [...Array(v).keys()].map((t) => [...seq, t]));
  }
  return (seq) => table.get(seq.join())!;
}

gpuTest(
  "DecoderOnly: beam 1 equals greedy; 16 beams equal exhaustive search over the cached model",
  async () => {
    const v = 5, maxNew = 3;
    const model = tinyLm("learned", 51, v);
    const prefix = randn([2, 2, 16], { seed: 52 });
    const prompts = [[1, 2, 3], [4]];
    const tables: ((seq: number[]) => number[])[] = [];
    for (let r = 0; r < 2; r++) {
      tables.push(
        await tableOf(
          async (seq) =>
            (await fullLogProbs(model, rowOf(prefix, r), [[...prompts[r], ...seq]]))[0],
          v,
          maxNew,
        ),
      );
    }
    // EOS: a token whose best sequences run to maxNew in both rows, so that the answer depends on
    // the last step, whose logits are only right if the cache rows followed their beams.
    const full = (e: number) =>
      [0, 1].flatMap((penalty) => tables.map((next) => exhaustive(next, e, maxNew, penalty)))
        .filter((best) => best.tokens.length === maxNew).length;
    const eos = [...Array(v).keys()].reduce((a, b) => (full(b) > full(a) ? b : a));
    assert(full(eos) >= 2, "no EOS choice makes the best sequences full-length");
    const greedy = await model.generate(prompts, { eos, maxNewTokens: 5, prefix });
    const beamOne = await nn.beamSearch(model, { prompts, prefix }, {
      eos,
      maxNewTokens: 5,
      beams: 1,
    });
    assertEquals(beamOne.tokens, greedy.tokens);
    assertClose(beamOne.scores, greedy.scores, TOL, TOL, "beam-1 scores");
    for (const penalty of [0, 1]) {
      const got = await model.generate(prompts, {
        eos,
        maxNewTokens: maxNew,
        prefix,
        beams: 16,
        lengthPenalty: penalty,
      });
      for (let r = 0; r < 2; r++) {
        const want = exhaustive(tables[r], eos, maxNew, penalty);
        assertEquals(got.tokens[r], want.tokens, `penalty ${penalty} row ${r}`);
        assertClose([got.scores[r]], [want.score], TOL, TOL, "beam score");
      }
    }
    prefix.dispose();
    model.dispose();
  },
);

gpuTest("KVCache.reorder moves each row's keys and values with it", async () => {
  const model = tinyLm("rotary", 61);
  const v = model.config.vocabSize;
  const prompts = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
  const order = [2, 0, 0];
  const run = (rows: number[][], reorder?: number[]) =>
    tidy(() => {
      const cache = model.newCache(3);
      const ids = tensor(rows.flat(), [3, 3], "i32");
      model.hiddenCached(model.embed(ids), cache, cache.advance(3));
      if (reorder) cache.reorder(reorder);
      const next = tensor([10, 10, 10], [3, 1], "i32");
      const out = model.logits(model.hiddenCached(model.embed(next), cache, cache.advance(1)));
      cache.dispose();
      return out;
    });
  const moved = run(prompts, order);
  const direct = run(order.map((r) => prompts[r]));
  const unmoved = run(prompts);
  assertClose(await moved.data(), await direct.data(), TOL, TOL, "reordered rows");
  const gap = maxGap(await unmoved.data(), await direct.data(), 3 * v);
  assert(gap > 100 * TOL, `rows with other histories should differ, gap ${gap}`);
  for (const t of [moved, direct, unmoved]) t.dispose();
  model.dispose();
});

gpuTest(
  "EncoderDecoder.generate (greedy and beams) equals search over full recomputation; padded sources",
  async () => {
    const v = 5, maxNew = 3, bos = 1;
    const model = lively(
      new nn.EncoderDecoder({
        vocabSize: v,
        dim: 16,
        heads: 2,
        hidden: 32,
        layers: 2,
        maxLength: 12,
        seed: 71,
      }),
      171,
    );
    const sources = [[2, 3, 4, 2], [4, 3]];
    // Each row alone, unpadded, decoded by full recomputation of the target.
    const tables: ((seq: number[]) => number[])[] = [];
    for (const source of sources) {
      const memory = tidy(() => model.encoder.forward(tensor(source, [1, source.length], "i32")));
      tables.push(
        await tableOf(
          async (seq) => {
            const logits = tidy(() =>
              model.decode(tensor([bos, ...seq], [1, seq.length + 1], "i32"), memory)
            );
            const lp = logSoftmaxRow(await logits.data(), seq.length * v, v);
            logits.dispose();
            return lp;
          },
          v,
          maxNew,
        ),
      );
      memory.dispose();
    }
    const src = tensor([...sources[0], ...sources[1], 0, 0], [2, 4], "i32");
    const padding = tensor([1, 1, 1, 1, 1, 1, 0, 0], [2, 4]);
    for (const eos of [0, 2]) {
      const greedy = await model.generate(src, { bos, eos, maxNewTokens: maxNew }, padding);
      const beams = await model.generate(
        src,
        { bos, eos, maxNewTokens: maxNew, beams: 16 },
        padding,
      );
      for (let r = 0; r < 2; r++) {
        const want = await referenceGreedy(tables[r], eos, maxNew);
        assertEquals(greedy.tokens[r], want.tokens, `greedy, eos ${eos}, row ${r}`);
        assertClose([greedy.scores[r]], [want.score], TOL, TOL, "greedy score");
        const best = exhaustive(tables[r], eos, maxNew, 0);
        assertEquals(beams.tokens[r], best.tokens, `beams, eos ${eos}, row ${r}`);
        assertClose([beams.scores[r]], [best.score], TOL, TOL, "beam score");
      }
    }
    for (const t of [src, padding]) t.dispose();
    model.dispose();
  },
);

gpuTest(
  "generate frees everything it allocates and rejects bad requests naming the problem",
  async () => {
    const model = tinyLm("learned", 81);
    const prefix = randn([2, 2, 16], { seed: 82 });
    const run = (
      prompts: number[][],
      extra: Partial<nn.GenerateOptions & { prefix: Tensor }> = {},
    ) => model.generate(prompts, { eos: 0, maxNewTokens: 4, prefix, ...extra });
    await run([[1, 2], [3]], { beams: 3 });
    const live = poolStats().liveBuffers;
    await run([[1, 2], [3]]);
    await run([[1, 2], [3]], { beams: 3 });
    const failures: [() => Promise<unknown>, string][] = [
      [() => run([[1, 2], [3, 99]]), "row 1 token 1 = 99"],
      [() => run([[1], []], { prefix: undefined }), "row 1 has neither prefix nor prompt"],
      [() => run([[1]]), "prefix must be [1, P, D]"],
      [() => run([[1], [2]], { beams: 0 }), "beams must be an integer ≥ 1"],
      [() => run([[1], [2]], { eos: 11 }), "eos id 11 is outside the vocabulary"],
      [
        () => run([[1], new Array(23).fill(2)]),
        "reaches 25 positions, beyond the model's maxLength 24",
      ],
    ];
    for (const [fn, fragment] of failures) {
      const e = await assertRejects(fn, Error);
      assert(e.message.includes(fragment), `expected "${fragment}", got "${e.message}"`);
    }
    assertEquals(poolStats().liveBuffers, live, "live buffers after generating and failing");
    const broken = new MarkovDecoder([[NaN, 0], [0, NaN]]);
    const e = await assertRejects(
      () => nn.generate(broken, { prompts: [[1]] }, { eos: 0, maxNewTokens: 2 }),
      Error,
    );
    assert(e.message.includes("non-finite logits"), e.message);
    broken.dispose();
    prefix.dispose();
    model.dispose();
  },
);

gpuTest("a padded prefix (prefixMask) decodes as the padded row does in a full pass", async () => {
  const model = tinyLm("learned", 91);
  const prefix = randn([2, 3, 16], { seed: 92 });
  const prefixMask = [[1, 1, 1], [1, 0, 1]];
  const prompts = [[3, 4], []];
  const maxNew = 5, eos = 0;
  const got = await model.generate(prompts, { eos, maxNewTokens: maxNew, prefix, prefixMask });
  for (let r = 0; r < 2; r++) {
    const want = await referenceGreedy(
      fullNext(model, prefix, r, prompts[r], prefixMask[r]),
      eos,
      maxNew,
    );
    assertEquals(got.tokens[r], want.tokens, `row ${r}`);
    assertClose([got.scores[r]], [want.score], TOL, TOL, "score");
  }
  // The mask matters: row 1 read with its middle vector scores differently (by ~3e-3 for this
  // weakly context-dependent random model, 30× the tolerance).
  const unmasked = await model.generate(prompts, { eos, maxNewTokens: maxNew, prefix });
  const gap = Math.abs(unmasked.scores[1] - got.scores[1]);
  assert(gap > 10 * TOL, `prefixMask had no effect (gap ${gap})`);
  prefix.dispose();
  model.dispose();
});

gpuTest(
  "a memory LM on a TransformerEncoder backbone (tied output embeddings) plugs in",
  async () => {
    // The shape of the memory encoder–decoder: a causal pass over memory ⊕ prompt through a shared
    // backbone, logits against the token table.
    const backbone = lively(
      new nn.TransformerEncoder({
        vocabSize: 13,
        dim: 16,
        heads: 2,
        hidden: 32,
        layers: 2,
        maxLength: 24,
        positions: "rotary",
        seed: 101,
      }),
      201,
    );
    const table = backbone.embed.tokens.weight;
    // A flatter table than `lively`'s, so that the states do more than echo the last token.
    const flat = tidy(() => ops.mul(table, 0.25));
    backbone.loadStateDict({ "embed.tokens.weight": flat }, false);
    flat.dispose();
    const decoder: nn.CachedDecoder = {
      vocabSize: 13,
      embed: (ids) => backbone.embed.tokens.forward(ids),
      newCache: (rows) => backbone.newCache(rows),
      hiddenCached: (x, cache, step) => backbone.forwardCached(x, cache, step),
      logits: (h) => ops.matmul(h, table, { transB: true }),
    };
    const memory = randn([2, 4, 16], { seed: 102 });
    const prompts = [[5, 6, 7], [8]];
    const eos = 1, maxNew = 5;
    const got = await nn.generate(decoder, { prompts, prefix: memory }, {
      eos,
      maxNewTokens: maxNew,
    });
    for (let r = 0; r < 2; r++) {
      const want = await referenceGreedy(
        async (seq) => {
          const ids = [...prompts[r], ...seq];
          const logits = tidy(() => {
            const x = ops.concat([
              rowOf(memory, r),
              backbone.embed.tokens.forward(tensor(ids, [1, ids.length], "i32")),
            ], 1);
            return ops.matmul(backbone.forwardEmbeddings(x, undefined, true), table, {
              transB: true,
            });
          });
          const lp = logSoftmaxRow(await logits.data(), (4 + ids.length - 1) * 13, 13);
          logits.dispose();
          return lp;
        },
        eos,
        maxNew,
      );
      assertEquals(got.tokens[r], want.tokens, `row ${r}`);
      assertClose([got.scores[r]], [want.score], TOL, TOL, "score");
    }
    memory.dispose();
    backbone.dispose();
  },
);
