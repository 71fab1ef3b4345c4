/**
 * Our whole training steps — forward, backward, AdamW, and the loss read back as a training loop
 * would (that readback is the step's one sync) — for the MLP and the transformer encoder. The
 * memory group runs the same steps on a drained pool and reports the pool's peak bytes.
 *
 * @module
 */
import { full, keep, ops, optim, randn, type Tensor, tidy, zeros } from "../mod.ts";
import { drainPool } from "../core/buffer_pool.ts";
import type { BenchCase, CaseInfo, Runner } from "./harness.ts";
import { caseInfos } from "./case_info.ts";
import type { BenchShapes, MlpShape, TransformerShape } from "./shapes.ts";
import { countingRunner } from "./ours_runner.ts";

/** A trainable weight with N(0, std²) entries, kept outside every scope. */
function weight(shape: number[], std: number, seed: number): Tensor {
  return keep(randn(shape, { std, seed })).requireGrad();
}

/** A trainable zero bias. */
function bias(n: number): Tensor {
  return keep(zeros([n])).requireGrad();
}

/** x · w + b for x [..., in], w [in, out]. */
function linear(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return ops.add(ops.matmul(x, w), b);
}

/** Steps `loss()` with AdamW (weight decay 0, i.e. Adam) and reads the loss back each run. */
function stepRunner(params: Tensor[], data: Tensor[], loss: () => Tensor): Runner {
  const opt = new optim.AdamW(params, { lr: 1e-3, weightDecay: 0 });
  return countingRunner({
    async run() {
      const value = tidy(() => {
        const l = loss();
        l.backward();
        opt.step();
        opt.zeroGrad();
        return l.detach();
      });
      await value.item();
      value.dispose();
    },
    dispose() {
      for (const t of [...params, ...data]) t.dispose();
    },
  });
}

function mlpRunner(m: MlpShape): Runner {
  const x = keep(randn([m.batch, m.inputs], { seed: 1 }));
  const target = keep(randn([m.batch, m.outputs], { seed: 2 }));
  const w1 = weight([m.inputs, m.hidden], 1 / Math.sqrt(m.inputs), 3);
  const w2 = weight([m.hidden, m.outputs], 1 / Math.sqrt(m.hidden), 4);
  const b1 = bias(m.hidden);
  const b2 = bias(m.outputs);
  return stepRunner([w1, b1, w2, b2], [x, target], () => {
    const h = ops.relu(linear(x, w1, b1));
    return ops.mse(linear(h, w2, b2), target);
  });
}

/** Parameters of one pre-norm encoder layer. */
interface LayerParams {
  ln1: [Tensor, Tensor];
  qkvo: [Tensor, Tensor][];
  ln2: [Tensor, Tensor];
  up: [Tensor, Tensor];
  down: [Tensor, Tensor];
}

function layerParams(t: TransformerShape, seed: number): LayerParams {
  const d = t.dim;
  const norm = (): [Tensor, Tensor] => [keep(full([d], 1)).requireGrad(), bias(d)];
  const proj = (i: number, o: number, s: number): [Tensor, Tensor] => [
    weight([i, o], 1 / Math.sqrt(i), seed + s),
    bias(o),
  ];
  return {
    ln1: norm(),
    qkvo: [0, 1, 2, 3].map((k) => proj(d, d, k)),
    ln2: norm(),
    up: proj(d, t.hidden, 4),
    down: proj(t.hidden, d, 5),
  };
}

/** x + attention(LN(x)); then + MLP(LN(·)) — the layer PyTorch builds with norm_first. */
function encoderLayer(x: Tensor, p: LayerParams, t: TransformerShape, mask: Tensor): Tensor {
  const [b, s, d] = x.shape;
  const dh = d / t.heads;
  const n1 = ops.layerNorm(x, ...p.ln1, 1e-5);
  const [q, k, v] = p.qkvo.slice(0, 3).map(([w, bb]) =>
    ops.permute(linear(n1, w, bb).reshape([b, s, t.heads, dh]), [0, 2, 1, 3])
  );
  const scores = ops.mul(ops.matmul(q, k, { transB: true }), 1 / Math.sqrt(dh));
  const heads = ops.matmul(ops.softmax(scores, mask), v);
  const merged = ops.permute(heads, [0, 2, 1, 3]).reshape([b, s, d]);
  const h = ops.add(x, linear(merged, ...p.qkvo[3]));
  const n2 = ops.layerNorm(h, ...p.ln2, 1e-5);
  return ops.add(h, linear(ops.gelu(linear(n2, ...p.up)), ...p.down));
}

function transformerRunner(t: TransformerShape): Runner {
  const x = keep(randn([t.batch, t.seq, t.dim], { seed: 5 }));
  const target = keep(randn([t.batch, t.seq, t.dim], { seed: 6 }));
  // Key-padding mask [B, 1, 1, S] that keeps every key, as an encoder batch without padding has.
  const mask = keep(zeros([t.batch, 1, 1, t.seq]));
  const layers = Array.from({ length: t.layers }, (_, i) => layerParams(t, 10 * i + 7));
  const params = layers.flatMap((l) => [...l.ln1, ...l.qkvo.flat(), ...l.ln2, ...l.up, ...l.down]);
  return stepRunner(params, [x, target, mask], () => {
    const y = layers.reduce((h, l) => encoderLayer(h, l, t, mask), x);
    return ops.mse(y, target);
  });
}

function stepCase(info: CaseInfo, make: () => Runner): BenchCase {
  const group = info.group;
  return {
    info,
    prepare(): Runner {
      if (group === "memory") drainPool();
      return make();
    },
  };
}

/** The training-step cases of the `step` group, or of the `memory` group (drained pool first). */
export function stepCases(s: BenchShapes, group: "step" | "memory"): BenchCase[] {
  const info = caseInfos(s);
  return [
    stepCase(info.mlpStep(group), () => mlpRunner(s.mlp)),
    stepCase(info.transformerStep(group), () => transformerRunner(s.transformer)),
  ];
}
