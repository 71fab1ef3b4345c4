/**
 * Our kernel cases: matmuls, elementwise bandwidth, softmax, layerNorm, attention scores,
 * crossEntropy and the fused AdamW update. Inputs are made in `prepare`; a run records the op
 * (under `tidy`, so intermediates go back to the pool) and awaits GPU completion.
 *
 * @module
 */
import { keep, ops, optim, randn, sync, type Tensor, tensor, tidy } from "../mod.ts";
import type { BenchCase, Runner } from "./harness.ts";
import type { BenchShapes } from "./shapes.ts";
import { caseInfos } from "./case_info.ts";
import { countingRunner } from "./ours_runner.ts";
import { fastPathsEnabled, setFastPaths } from "../kernels/fast_paths.ts";

/** Random normal inputs kept outside every scope; disposed with the runner. */
function inputs(shapes: number[][], requiresGrad = false): Tensor[] {
  return shapes.map((s, i) => keep(randn(s, { seed: 17 + i })).requireGrad(requiresGrad));
}

/** A runner that records `body` under tidy and waits for the GPU. */
function opRunner(held: Tensor[], body: () => void): Runner {
  return countingRunner({
    async run() {
      tidy(() => {
        body(); // the result is not returned, so the scope frees it too
      });
      await sync();
    },
    dispose() {
      for (const t of held) t.dispose();
    },
  });
}

/**
 * Runs `f` with the engine's fast paths off, so that matmul's packed-B cache (which would skip the
 * packing of a B reused unchanged run after run) does not apply: every run packs its operands, as a
 * product with a weight updated since its last use does, and as the peers' runs do their work.
 */
function packingEveryRun(f: () => void): () => void {
  return () => {
    const before = fastPathsEnabled();
    setFastPaths(false);
    try {
      f();
    } finally {
      setFastPaths(before);
    }
  };
}

/** Runs `f` and backpropagates the output gradient `g`, dropping the input gradients. */
function forwardBackward(xs: Tensor[], g: Tensor, f: () => Tensor): void {
  f().backward(g);
  for (const x of xs) {
    x.grad?.dispose();
    x.grad = null;
  }
}

function matmulCases(s: BenchShapes): BenchCase[] {
  const infos = caseInfos(s).matmul;
  return s.matmuls.map((m, i) => ({
    info: infos[i],
    prepare() {
      const lead = m.batch === 1 ? [] : [m.batch];
      const [a, b] = inputs([[...lead, m.m, m.k], [...lead, m.k, m.n]]);
      return opRunner([a, b], packingEveryRun(() => ops.matmul(a, b)));
    },
  }));
}

function rowCases(s: BenchShapes): BenchCase[] {
  const { rows, cols } = s;
  const info = caseInfos(s);
  return [
    {
      info: info.softmaxFwd,
      prepare() {
        const [x] = inputs([[rows, cols]]);
        return opRunner([x], () => ops.softmax(x));
      },
    },
    {
      info: info.softmaxFwdBwd,
      prepare() {
        const [x] = inputs([[rows, cols]], true);
        const [g] = inputs([[rows, cols]]);
        return opRunner([x, g], () => forwardBackward([x], g, () => ops.softmax(x)));
      },
    },
    {
      info: info.layerNormFwd,
      prepare() {
        const [x, w, b] = inputs([[rows, cols], [cols], [cols]]);
        return opRunner([x, w, b], () => ops.layerNorm(x, w, b, 1e-5));
      },
    },
    {
      info: info.layerNormFwdBwd,
      prepare() {
        const xs = inputs([[rows, cols], [cols], [cols]], true);
        const [g] = inputs([[rows, cols]]);
        const [x, w, b] = xs;
        return opRunner([...xs, g], () => forwardBackward(xs, g, () => ops.layerNorm(x, w, b)));
      },
    },
    {
      info: info.crossEntropyFwdBwd,
      prepare() {
        const [logits] = inputs([[rows, cols]], true);
        const ids = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % cols);
        const targets = keep(tensor(ids, [rows], "i32"));
        return opRunner([logits, targets], () => {
          ops.crossEntropy(logits, targets).backward();
          logits.grad?.dispose();
          logits.grad = null;
        });
      },
    },
  ];
}

function attentionCase(s: BenchShapes): BenchCase {
  const { batch, heads, seq, headDim } = s.attention;
  return {
    info: caseInfos(s).attention,
    prepare() {
      const [q, k] = inputs([[batch, heads, seq, headDim], [batch, heads, seq, headDim]]);
      const causal = Float32Array.from(
        { length: seq * seq },
        (_, i) => (i % seq > Math.floor(i / seq) ? -1e9 : 0),
      );
      const mask = keep(tensor(causal, [seq, seq]));
      const scale = 1 / Math.sqrt(headDim);
      return opRunner(
        [q, k, mask],
        packingEveryRun(() =>
          ops.softmax(ops.mul(ops.matmul(q, k, { transB: true }), scale), mask)
        ),
      );
    },
  };
}

function adamCase(s: BenchShapes): BenchCase {
  return {
    info: caseInfos(s).adamw,
    prepare() {
      const params = inputs(s.adamParams, true);
      const grads = inputs(s.adamParams);
      params.forEach((p, i) => (p.grad = grads[i]));
      const opt = new optim.AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
      return countingRunner({
        async run() {
          opt.step();
          await sync();
        },
        dispose() {
          opt.dispose();
          for (const p of params) p.dispose();
        },
      });
    },
  };
}

/** Every kernel case of ours at the given shapes. */
export function kernelCases(s: BenchShapes): BenchCase[] {
  const add: BenchCase = {
    info: caseInfos(s).add,
    prepare() {
      const [a, b] = inputs([[s.addElements], [s.addElements]]);
      return opRunner([a, b], () => ops.add(a, b));
    },
  };
  return [...matmulCases(s), add, ...rowCases(s), attentionCase(s), adamCase(s)];
}
