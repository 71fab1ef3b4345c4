import { assert, assertEquals } from "./assert.ts";
import { assertClose, gpuTest } from "./helpers.ts";
import { nn, noGrad, ops, optim, randn, Rng, type Tensor, tensor, tidy } from "../mod.ts";

const PAD = 0, BOS = 1, EOS = 2, SYMBOLS = 8, LENGTH = 5;

function reverseBatch(rng: Rng, batch: number) {
  const src: number[] = [], tgtIn: number[] = [], tgtOut: number[] = [];
  for (let b = 0; b < batch; b++) {
    const seq = Array.from({ length: LENGTH }, () => 3 + rng.int(SYMBOLS));
    const rev = seq.toReversed();
    src.push(...seq);
    tgtIn.push(BOS, ...rev);
    tgtOut.push(...rev, EOS);
  }
  return {
    src: tensor(src, [batch, LENGTH], "i32"),
    tgtIn: tensor(tgtIn, [batch, LENGTH + 1], "i32"),
    tgtOut: tensor(tgtOut, [batch, LENGTH + 1], "i32"),
  };
}

gpuTest(
  "a 2-layer encoder–decoder learns to reverse sequences (≥ 98 % greedy token accuracy)",
  async () => {
    const model = new nn.EncoderDecoder({
      vocabSize: 3 + SYMBOLS,
      dim: 32,
      heads: 4,
      hidden: 64,
      layers: 2,
      maxLength: 16,
      seed: 21,
    });
    const opt = new optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
    const rng = new Rng(22);
    for (let step = 0; step < 400; step++) {
      const batch = reverseBatch(rng, 32);
      tidy(() => {
        const logits = model.forward(batch.src, batch.tgtIn);
        nn.sequenceCrossEntropy(logits, batch.tgtOut, PAD).backward();
        opt.step();
        opt.zeroGrad();
      });
      for (const t of Object.values(batch)) t.dispose();
    }
    model.eval();
    const test = reverseBatch(new Rng(99), 64);
    const out = await model.generate(test.src, { bos: BOS, eos: EOS, maxNewTokens: LENGTH + 1 });
    const src = await test.src.data();
    let correct = 0;
    out.tokens.forEach((seq, b) => {
      const want = Array.from(src.slice(b * LENGTH, (b + 1) * LENGTH)).toReversed();
      want.forEach((tok, i) => (correct += seq[i] === tok ? 1 : 0));
    });
    const accuracy = correct / (64 * LENGTH);
    assert(accuracy >= 0.98, `greedy token accuracy ${accuracy}`);
    for (const t of Object.values(test)) t.dispose();
    model.dispose();
  },
);

gpuTest(
  "LoRA: training changes only A/B, base stays bit-identical; merge reproduces base+adapter",
  async () => {
    const model = new nn.DecoderOnly({
      vocabSize: 10,
      dim: 16,
      heads: 2,
      layers: 1,
      maxLength: 8,
      seed: 31,
    });
    const baseBefore = new Map<string, Float32Array>();
    for (const [n, p] of model.namedParameters()) {
      baseBefore.set(
        n,
        (await p.data()) as Float32Array,
      );
    }
    const wrapped = nn.LoRA.wrap(model, { rank: 2, alpha: 4, targets: ["q", "v"], seed: 32 });
    assertEquals(wrapped, ["stack.layers.0.attn.q", "stack.layers.0.attn.v"]);
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    assert(trainable.every((n) => n.includes(".lora_default.")), `trainable: ${trainable}`);
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2 });
    const ids = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], "i32");
    const targets = tensor([2, 3, 4, 5, 6, 7, 8, 9], [2, 4], "i32");
    for (let i = 0; i < 5; i++) {
      tidy(() => {
        nn.sequenceCrossEntropy(model.forward(ids), targets).backward();
        opt.step();
        opt.zeroGrad();
      });
    }
    for (const [n, p] of model.namedParameters()) {
      const now = (await p.data()) as Float32Array;
      const before = baseBefore.get(n);
      if (before) assertEquals(Array.from(now), Array.from(before), `base ${n} changed`);
      else if (n.endsWith(".B")) assert(now.some((v) => v !== 0), `${n} did not train`);
    }
    const withAdapter = noGrad(() => tidy(() => model.forward(ids)));
    nn.LoRA.merge(model);
    const merged = noGrad(() => tidy(() => model.forward(ids)));
    assertClose(await merged.data(), await withAdapter.data(), 1e-5, 1e-4, "merged vs adapter");
    assert(!model.namedParameters().some(([n]) => n.includes("lora")), "adapter left after merge");
    for (const t of [withAdapter, merged, ids, targets]) t.dispose();
    model.dispose();
  },
);

gpuTest("steTopK: forward is exactly the hard top-k, gradient equals the soft path's", async () => {
  const scores = randn([3, 6], { seed: 41 });
  const k = 3, tau = 0.5;
  const s = await scores.data();
  const w = randn([3, k, 6], { seed: 42 });
  scores.requiresGrad = true;
  const hard = tidy(() => {
    const z = ops.steTopK(scores, k, tau);
    ops.sum(ops.mul(z, w)).backward();
    return z;
  });
  const steGrad = await scores.grad!.data();
  scores.grad!.dispose();
  scores.grad = null;
  // Expected hard selection and the explicit soft path, built independently on the host.
  const z = await hard.data();
  const mask = new Float32Array(3 * k * 6);
  for (let b = 0; b < 3; b++) {
    const order = [...Array(6).keys()].sort((i, j) => s[b * 6 + j] - s[b * 6 + i]);
    for (let j = 0; j < k; j++) {
      for (let i = 0; i < 6; i++) {
        assertEquals(z[(b * k + j) * 6 + i], i === order[j] ? 1 : 0, `Z_hard[${b},${j},${i}]`);
        if (order.slice(0, j).includes(i)) mask[(b * k + j) * 6 + i] = -1e9;
      }
    }
  }
  const maskT = tensor(mask, [3, k, 6]);
  tidy(() => {
    const scaled = ops.broadcastTo(ops.mul(scores, 1 / tau).reshape([3, 1, 6]), [3, k, 6]);
    ops.sum(ops.mul(ops.softmax(scaled, maskT), w)).backward();
  });
  assertClose(steGrad, await scores.grad!.data(), 1e-6, 1e-5, "straight-through gradient");
  for (const t of [scores, w, hard, maskT] as Tensor[]) t.dispose();
});
