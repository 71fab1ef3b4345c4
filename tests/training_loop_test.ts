import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { nn, ops, optim, poolStats, Rng, tensor, tidy } from "../mod.ts";

/** Points in [-1, 1]² labelled by the sign of x·y (XOR of the quadrants): not linearly separable. */
function quadrants(rng: Rng, n: number) {
  const xs = new Float32Array(2 * n);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = rng.next() * 2 - 1, b = rng.next() * 2 - 1;
    xs.set([a, b], 2 * i);
    ys[i] = a * b > 0 ? 1 : 0;
  }
  return { x: tensor(xs, [n, 2]), y: tensor(ys, [n], "i32"), labels: ys };
}

class TinyMlp extends nn.Module {
  readonly l1 = this.child("l1", new nn.Linear(2, 32, { seed: 1 }));
  readonly l2 = this.child("l2", new nn.Linear(32, 32, { seed: 2 }));
  readonly l3 = this.child("l3", new nn.Linear(32, 2, { seed: 3 }));
  forward(x: Parameters<nn.Linear["forward"]>[0]) {
    return this.l3.forward(ops.gelu(this.l2.forward(ops.gelu(this.l1.forward(x)))));
  }
}

gpuTest("a tiny MLP learns the non-linear quadrant task (≥ 95 % test accuracy)", async () => {
  const model = new TinyMlp();
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
  const rng = new Rng(5);
  for (let step = 0; step < 300; step++) {
    const batch = quadrants(rng, 128);
    tidy(() => {
      ops.crossEntropy(model.forward(batch.x), batch.y).backward();
      opt.step();
      opt.zeroGrad();
    });
    batch.x.dispose();
    batch.y.dispose();
  }
  const test = quadrants(new Rng(77), 500);
  const logits = tidy(() => model.forward(test.x));
  const l = await logits.data();
  let correct = 0;
  for (let i = 0; i < 500; i++) {
    correct += (l[2 * i + 1] > l[2 * i] ? 1 : 0) === test.labels[i] ? 1 : 0;
  }
  assert(correct / 500 >= 0.95, `accuracy ${correct / 500}`);
  for (const t of [logits, test.x, test.y]) t.dispose();
  opt.dispose();
  model.dispose();
});

gpuTest(
  "memory is flat from step 10 to step 300 of a training loop (live buffers and pooled bytes)",
  async () => {
    const model = new nn.TransformerEncoderLayer({
      dim: 16,
      heads: 2,
      hidden: 32,
      dropout: 0.1,
      seed: 9,
    });
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
    const x = tensor(Float32Array.from({ length: 4 * 6 * 16 }, (_, i) => Math.sin(i)), [4, 6, 16]);
    const padding = tensor(
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
      [4, 6],
    );
    let at10 = poolStats();
    for (let step = 1; step <= 300; step++) {
      const loss = tidy(() => {
        const l = ops.mean(ops.mul(model.forward(x, { keyPadding: padding, causal: true }), x));
        l.backward();
        optim.clipGradNorm(model.parameters(), 1);
        opt.step();
        opt.zeroGrad();
        return l;
      });
      if (step % 50 === 0) await loss.item();
      loss.dispose();
      if (step === 10) at10 = poolStats();
    }
    const at300 = poolStats();
    assertEquals(at300.liveBuffers, at10.liveBuffers, "live buffers");
    assertEquals(at300.liveBytes, at10.liveBytes, "live bytes");
    assertEquals(at300.pooledBytes, at10.pooledBytes, "pooled bytes");
    assertEquals(at300.createdBuffers, at10.createdBuffers, "no new GPU buffers after warm-up");
    for (const t of [x, padding]) t.dispose();
    opt.dispose();
    model.dispose();
  },
);
