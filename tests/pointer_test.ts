import { assert, assertEquals } from "./assert.ts";
import { assertClose, checkOp, gpuTest, type HostTensor } from "./helpers.ts";
import { noGrad, ops, type Tensor, tensor, tidy } from "../mod.ts";
import { copyMixtureLogProbs, copyMixtureNll, followsOf, PointerHead } from "../core/nn/pointer.ts";

// scatterRows sums f32 values of size ≤ 2 in a fixed order: exact up to a few ulps (atol 1e-6);
// its backward is a gather, a copy, so the gradient check keeps the default tolerances.

/** CPU reference of scatterRows: out[index[m]] += values[m], out-of-range ids dropped. */
function cpuScatter(values: HostTensor, ids: number[], rows: number): HostTensor {
  const d = values.shape[1];
  const out = new Float64Array(rows * d);
  ids.forEach((id, m) => {
    if (id < 0 || id >= rows) return;
    for (let j = 0; j < d; j++) out[id * d + j] += values.values[m * d + j];
  });
  return { shape: [rows, d], values: out };
}

gpuTest(
  "scatterRows: forward and gradient against a CPU scatter-add, repeats and dropped ids",
  async () => {
    const cases: [number[], number[], number][] = [
      // values shape, ids, rows
      [[6, 1], [0, 3, 3, 5, 0, 3], 6],
      [[5, 3], [2, -1, 2, 7, 1], 4],
      [[4, 4], [1, 1, 1, 1], 3],
    ];
    for (const [shape, ids, rows] of cases) {
      await checkOp({
        inputs: [{ shape }],
        gpu: ([v]) => ops.scatterRows(v, tensor(ids, [ids.length], "i32"), rows),
        cpu: ([v]) => cpuScatter(v, ids, rows),
        atol: 1e-6,
        rtol: 1e-6,
      });
    }
  },
);

/** A mixture of `v` logits, a switch and copy weights over ids, with a CPU reference of p(y). */
function mixtureCase() {
  const b = 2, t = 3, v = 7, p = 4;
  const logits = Array.from({ length: b * t * v }, (_, i) => Math.sin(i * 1.7) * 2);
  const gen = [0.9, 0.2, 0.5, 0.7, 0.05, 0.99];
  // Copy weights need not sum to 1 (a latent's context weights sum to its pointer weight).
  const weights = Array.from({ length: b * t * p }, (_, i) => ((i * 7) % 5 + 1) / 16);
  const ids = [3, 5, 3, 0, 6, 6, 1, 2];
  const targets = [3, 4, -100, 6, 2, 0];
  const prob = (r: number, s: number, y: number) => {
    const row = logits.slice((r * t + s) * v, (r * t + s + 1) * v);
    const z = row.reduce((a, x) => a + Math.exp(x), 0);
    let copy = 0;
    for (let j = 0; j < p; j++) if (ids[r * p + j] === y) copy += weights[(r * t + s) * p + j];
    const g = gen[r * t + s];
    return g * Math.exp(row[y]) / z + (1 - g) * copy;
  };
  return { b, t, v, p, logits, gen, weights, ids, targets, prob };
}

gpuTest(
  "copy mixture: −log p(target) and the full distribution match a CPU reference",
  async () => {
    const c = mixtureCase();
    const { nll, logp } = noGrad(() =>
      tidy(() => {
        const logits = tensor(c.logits, [c.b, c.t, c.v]);
        const pGen = tensor(c.gen, [c.b, c.t, 1]);
        const copy = {
          weights: tensor(c.weights, [c.b, c.t, c.p]),
          ids: tensor(c.ids, [c.b, c.p], "i32"),
        };
        return {
          nll: copyMixtureNll(logits, pGen, copy, tensor(c.targets, [c.b, c.t], "i32")),
          logp: copyMixtureLogProbs(logits, pGen, copy, c.ids),
        };
      })
    );
    let want = 0, n = 0;
    const wantLogp = new Float64Array(c.b * c.t * c.v);
    for (let r = 0; r < c.b; r++) {
      for (let s = 0; s < c.t; s++) {
        for (let y = 0; y < c.v; y++) {
          wantLogp[(r * c.t + s) * c.v + y] = Math.log(
            c.prob(r, s, y) + 1e-9,
          );
        }
        const y = c.targets[r * c.t + s];
        if (y === -100) continue;
        want -= Math.log(c.prob(r, s, y) + 1e-9);
        n++;
      }
    }
    // f32 softmax and sums of ≤ 7 terms: relative error ~1e-6; 1e-5 leaves a margin of ten.
    assertClose(await nll.data(), [want / n], 1e-5, 1e-5, "nll");
    assertClose(await logp.data(), wantLogp, 1e-5, 1e-5, "log p");
    nll.dispose();
    logp.dispose();
  },
);

gpuTest(
  "copy mixture NLL: gradients of logits, switch and weights by finite differences",
  async () => {
    const c = mixtureCase();
    const host = (h: HostTensor[]) => {
      const [logits, gen, weights] = h.map((x) => x.values);
      let s = 0, n = 0;
      for (let r = 0; r < c.b; r++) {
        for (let k = 0; k < c.t; k++) {
          const y = c.targets[r * c.t + k];
          if (y === -100) continue;
          const row = logits.slice((r * c.t + k) * c.v, (r * c.t + k + 1) * c.v);
          const z = row.reduce((a, x) => a + Math.exp(x), 0);
          let copy = 0;
          for (let j = 0; j < c.p; j++) {
            if (c.ids[r * c.p + j] === y) copy += weights[(r * c.t + k) * c.p + j];
          }
          const g = gen[r * c.t + k];
          s -= Math.log(g * Math.exp(row[y]) / z + (1 - g) * copy + 1e-9);
          n++;
        }
      }
      return { shape: [], values: Float64Array.of(s / n) };
    };
    await checkOp({
      inputs: [
        { shape: [c.b, c.t, c.v], values: c.logits },
        { shape: [c.b, c.t, 1], values: c.gen },
        { shape: [c.b, c.t, c.p], values: c.weights },
      ],
      gpu: ([logits, gen, weights]) =>
        copyMixtureNll(
          logits,
          gen,
          { weights, ids: tensor(c.ids, [c.b, c.p], "i32") },
          tensor(c.targets, [c.b, c.t], "i32"),
        ),
      cpu: host,
      atol: 1e-5,
      rtol: 1e-5,
    });
  },
);

gpuTest(
  "pointer head: weights are a distribution over real positions; the bias steers them",
  async () => {
    const head = new PointerHead(8, 3);
    try {
      const h = tensor(Array.from({ length: 2 * 2 * 8 }, (_, i) => Math.cos(i)), [2, 2, 8]);
      const memory = tensor(Array.from({ length: 2 * 5 * 8 }, (_, i) => Math.sin(i * 0.3)), [
        2,
        5,
        8,
      ]);
      const padding = tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5]);
      const read = async (bias?: Tensor) => {
        const out = noGrad(() => tidy(() => head.forward(h, memory, { padding, bias })));
        const w = await out.pointer.data(), g = await out.pGen.data();
        out.pointer.dispose();
        out.pGen.dispose();
        return { w, g };
      };
      const { w, g } = await read();
      for (let r = 0; r < 4; r++) {
        const row = Array.from(w.slice(r * 5, r * 5 + 5));
        assertClose([row.reduce((a, x) => a + x, 0)], [1], 1e-6, 0, `row ${r} sums to 1`);
        if (r < 2) assertEquals(row.slice(3), [0, 0], "padding gets no weight");
      }
      assert(Array.from(g).every((x) => x > 0 && x < 1), "the switch is a probability");
      // A bias of log(1e-12) on the last position all but removes it.
      const { w: biased } = await read(tensor([0, 0, 0, 0, Math.log(1e-12)], [1, 1, 5]));
      for (const r of [2, 3]) {
        assert(
          biased[r * 5 + 4] < 1e-10,
          `biased weight ${biased[r * 5 + 4]}`,
        );
      }
      for (const t of [h, memory, padding]) t.dispose();
    } finally {
      head.dispose();
    }
  },
);

gpuTest("followsOf marks the positions right after each occurrence of the token read", async () => {
  const memory = tensor([5, 6, 5, 7, 1, 2, 3, 4], [2, 4], "i32");
  const read = tensor([5, 7, 6, 9], [2, 2], "i32");
  const follows = followsOf(read, memory);
  const got = Array.from(await follows.data());
  assertEquals(got, [
    ...[0, 1, 0, 1], // 5 stands before positions 1 and 3
    ...[0, 0, 0, 0], // 7 is the last token: nothing follows it
    ...[0, 0, 0, 0], // 6 is not in row 2
    ...[0, 0, 0, 0], // neither is 9; position 0 follows nothing
  ]);
  // A one-token memory: only position 0, which follows nothing.
  const one = tensor([1], [1, 1], "i32");
  const single = followsOf(one, one);
  assertEquals(Array.from(await single.data()), [0]);
  for (const t of [memory, read, follows, one, single]) t.dispose();
});
