import { assertClose, checkComposedGradients, gpuTest } from "./helpers.ts";
import { writeBuffer } from "../kernels/runtime.ts";
import { nn, ops, randn, type Tensor, tensor, tidy } from "../mod.ts";

// Layer gradient checks: analytical gradients against f32 finite differences of the layer's own
// forward (see checkComposedGradients for the tolerance reasoning). Every element of every
// parameter and of the input is checked: at these sizes that is a few hundred to ~2000 elements
// per layer, read back 64 finite differences per sync.

const ALL = { samples: "all" } as const;

function paramsOf(module: nn.Module, extra: [string, Tensor][] = []): [string, Tensor][] {
  return [...module.namedParameters(), ...extra];
}

gpuTest("Linear gradients (with and without bias)", async () => {
  for (const bias of [true, false]) {
    const layer = new nn.Linear(5, 3, { seed: 1, bias });
    const x = randn([2, 4, 5], { seed: 2 });
    await checkComposedGradients(() => layer.forward(x), paramsOf(layer, [["x", x]]), ALL);
    layer.dispose();
    x.dispose();
  }
});

gpuTest("Embedding gradient accumulates repeated ids", async () => {
  const layer = new nn.Embedding(6, 4, { seed: 3 });
  const ids = tensor([1, 3, 1, 5, 0, 1], [2, 3], "i32");
  await checkComposedGradients(() => layer.forward(ids), paramsOf(layer), ALL);
  layer.dispose();
  ids.dispose();
});

gpuTest("LayerNorm and RMSNorm gradients", async () => {
  for (const layer of [new nn.LayerNorm(7), new nn.RMSNorm(7)]) {
    const x = randn([3, 7], { seed: 4 });
    await checkComposedGradients(() => layer.forward(x), paramsOf(layer, [["x", x]]), ALL);
    layer.dispose();
    x.dispose();
  }
});

gpuTest("MLP gradients for gelu, silu and swiglu", async () => {
  for (const act of ["gelu", "silu", "swiglu"] as const) {
    const layer = new nn.MLP(4, 6, act, { seed: 5 });
    const x = randn([2, 3, 4], { seed: 6 });
    await checkComposedGradients(() => layer.forward(x), paramsOf(layer, [["x", x]]), ALL);
    layer.dispose();
    x.dispose();
  }
});

gpuTest(
  "MultiHeadAttention gradients: causal self-attention with key padding, and cross-attention",
  async () => {
    const attn = new nn.MultiHeadAttention(8, 2, { seed: 7 });
    const x = randn([2, 5, 8], { seed: 8 });
    const ctx = randn([2, 3, 8], { seed: 9 });
    const padding = tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5]);
    const ctxPadding = tensor([1, 1, 0, 1, 1, 1], [2, 3]);
    await checkComposedGradients(
      () => attn.forward(x, { causal: true, keyPadding: padding }),
      paramsOf(attn, [["x", x]]),
      ALL,
    );
    await checkComposedGradients(
      () => attn.forward(x, { context: ctx, keyPadding: ctxPadding }),
      paramsOf(attn, [["x", x], ["context", ctx]]),
      ALL,
    );
    attn.dispose();
    for (const t of [x, ctx, padding, ctxPadding]) t.dispose();
  },
);

gpuTest("attention weights respect masks: padded keys get 0 and rows sum to 1", async () => {
  const attn = new nn.MultiHeadAttention(8, 2, { seed: 10 });
  const x = randn([1, 4, 8], { seed: 11 });
  const padding = tensor([1, 1, 1, 0], [1, 4]);
  const w = tidy(() => attn.attend(x, { causal: true, keyPadding: padding }).weights);
  const v = await w.data();
  for (let h = 0; h < 2; h++) {
    for (let t = 0; t < 4; t++) {
      let sum = 0;
      for (let s = 0; s < 4; s++) {
        const p = v[(h * 4 + t) * 4 + s];
        if ((s > t || s === 3) && p !== 0) throw new Error(`masked weight [${h},${t},${s}] = ${p}`);
        sum += p;
      }
      if (Math.abs(sum - 1) > 1e-5) throw new Error(`row [${h},${t}] sums to ${sum}`);
    }
  }
  for (const t of [w, x, padding]) t.dispose();
  attn.dispose();
});

gpuTest("encoder and decoder layer gradients (learned and rotary positions)", async () => {
  const enc = new nn.TransformerEncoderLayer({ dim: 8, heads: 2, hidden: 12, seed: 12 });
  const dec = new nn.TransformerDecoderLayer({ dim: 8, heads: 2, hidden: 12, seed: 13 });
  const rotary = new nn.Rotary(16, 4);
  const x = randn([2, 4, 8], { seed: 14 });
  const mem = randn([2, 3, 8], { seed: 15 });
  await checkComposedGradients(
    () => enc.forward(x, { causal: true, positions: rotary.apply }),
    paramsOf(enc, [["x", x]]),
    ALL,
  );
  await checkComposedGradients(
    () => dec.forward(x, mem),
    paramsOf(dec, [["x", x], ["memory", mem]]),
    ALL,
  );
  for (const m of [enc, dec, rotary, x, mem]) m.dispose();
});

gpuTest(
  "PerceiverSelector: attention sums to 1 per latent, padding gets none, gradients check",
  async () => {
    const sel = new nn.PerceiverSelector({
      latents: 3,
      layers: 2,
      heads: 2,
      dim: 8,
      selfAttention: true,
      seed: 16,
    });
    const ctx = randn([2, 5, 8], { seed: 17 });
    const padding = tensor([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [2, 5]);
    const attn = tidy(() => sel.forward(ctx, padding).attn);
    const a = await attn.data();
    for (let b = 0; b < 2; b++) {
      for (let l = 0; l < 3; l++) {
        let sum = 0;
        for (let s = 0; s < 5; s++) {
          const p = a[(b * 3 + l) * 5 + s];
          if (b === 1 && s >= 2 && p !== 0) throw new Error(`padded token got attention ${p}`);
          sum += p;
        }
        if (Math.abs(sum - 1) > 1e-5) throw new Error(`latent ${l} of row ${b} sums to ${sum}`);
      }
    }
    // Every element of the latents and the context; 12 sampled elements of each of the blocks'
    // 56 tensors (every element of them would take ~55 s on two shared CPU cores).
    // The latents pass through LayerNorm twice: at eps 1e-2 the central difference of latents[10]
    // is -0.150 against the analytic -0.130, and converges to it as eps shrinks (-0.1325 at
    // 3e-3, -0.1310 at 1e-3). At 3e-3 the f32 rounding of the loss (~1e-7 of a sum near 1)
    // adds < 1e-4 to each difference, far below atol.
    const wrt = paramsOf(sel, [["context", ctx]]);
    const forward = () => sel.forward(ctx, padding).latents;
    const inBlocks = ([n]: [string, Tensor]) => n.startsWith("blocks.");
    await checkComposedGradients(forward, wrt.filter((p) => !inBlocks(p)), {
      samples: "all",
      eps: 3e-3,
    });
    await checkComposedGradients(forward, wrt.filter(inBlocks), { samples: 12, eps: 3e-3 });
    for (const m of [sel, ctx, padding, attn]) m.dispose();
  },
);

gpuTest("TanhGate starts closed: the gated path contributes nothing at init", async () => {
  const gate = new nn.TanhGate();
  const base = randn([2, 3], { seed: 18 });
  const extra = randn([2, 3], { seed: 19 });
  const out = tidy(() => ops.add(base, gate.forward(extra)));
  const [o, b] = [await out.data(), await base.data()];
  for (let i = 0; i < o.length; i++) {
    if (o[i] !== b[i]) throw new Error(`index ${i}: ${o[i]} != ${b[i]}`);
  }
  // Closed, the gradient reaching x is tanh(0) = 0 and only the gate's own gradient is non-trivial;
  // opened, both are: x's is w·tanh(g), the gate's Σ w·x·(1 − tanh²(g)).
  await checkComposedGradients(() => gate.forward(extra), paramsOf(gate, [["x", extra]]), ALL);
  writeBuffer(gate.gate.buffer, Float32Array.of(0.7));
  const opened = tidy(() => gate.forward(extra));
  const e = await extra.data();
  assertClose(await opened.data(), Array.from(e, (v) => v * Math.tanh(0.7)), 1e-6, 1e-6, "open");
  await checkComposedGradients(() => gate.forward(extra), paramsOf(gate, [["x", extra]]), ALL);
  for (const m of [gate, base, extra, out, opened]) m.dispose();
});

gpuTest("attention bias: added to the scores per head, and its gradient checks", async () => {
  const attn = new nn.MultiHeadAttention(8, 2, { seed: 12 });
  const x = randn([2, 4, 8], { seed: 13 });
  const padding = tensor([1, 1, 1, 0, 1, 1, 1, 1], [2, 4]);
  // A bias of MASKED on key 3 of batch 0 (both heads) must act like that key's padding.
  const asPadding = tensor(
    Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => i < 32 && i % 4 === 3 ? nn.MASKED : 0),
    [2, 2, 4, 4],
  );
  const [masked, biased] = tidy(() => [
    attn.forward(x, { keyPadding: padding }),
    attn.forward(x, { bias: asPadding }),
  ]);
  const expected = await masked.data();
  const got = await biased.data();
  got.forEach((v, i) => {
    if (Math.abs(v - expected[i]) > 1e-6) throw new Error(`output ${i}: ${v} vs ${expected[i]}`);
  });
  const bias = randn([2, 2, 4, 4], { seed: 14 });
  await checkComposedGradients(
    () => attn.forward(x, { keyPadding: padding, bias }),
    paramsOf(attn, [["x", x], ["bias", bias]]),
    ALL,
  );
  for (const t of [x, padding, asPadding, masked, biased, bias]) t.dispose();
  attn.dispose();
});

gpuTest(
  "LocalMix: x + GELU(W·window + b) against an f64 reference, padding not mixed in",
  async () => {
    const [b, t, d, r] = [2, 5, 3, 1];
    const mix = new nn.LocalMix(d, r, { seed: 15 });
    const x = randn([b, t, d], { seed: 16 });
    const paddingValues = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    const padding = tensor(paddingValues, [b, t]);
    const out = tidy(() => mix.forward(x, padding));
    const [xs, w, bias, got] = [
      await x.data(),
      await mix.proj.weight.data(),
      await mix.proj.bias!.data(),
      await out.data(),
    ];
    const gelu = (v: number) =>
      0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const width = (2 * r + 1) * d;
    for (let bi = 0; bi < b; bi++) {
      for (let ti = 0; ti < t; ti++) {
        for (let o = 0; o < d; o++) {
          let z = bias[o];
          for (let k = -r; k <= r; k++) {
            const s = ti + k;
            if (s < 0 || s >= t || paddingValues[bi * t + s] === 0) continue;
            for (let c = 0; c < d; c++) {
              z += w[o * width + (k + r) * d + c] * xs[(bi * t + s) * d + c];
            }
          }
          const i = (bi * t + ti) * d + o;
          const want = xs[i] + gelu(z);
          // f32 sums of 9 products of O(1) values: 1e-5 absolute covers their rounding.
          if (Math.abs(got[i] - want) > 1e-5) {
            throw new Error(
              `[${bi},${ti},${o}]: ${got[i]} vs ${want}`,
            );
          }
        }
      }
    }
    await checkComposedGradients(() => mix.forward(x, padding), paramsOf(mix, [["x", x]]));
    for (const v of [x, padding, out]) v.dispose();
    mix.dispose();
  },
);
