/**
 * Peer: TensorFlow.js on its WebGPU backend, in Deno, on the same adapter and shapes as ours.
 * A run ends by reading back one element of the result, which waits for all queued GPU work.
 * tfjs has no layerNorm op, so it is composed from `moments` as tfjs layers do; its optimizer is
 * Adam (no decoupled weight decay).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import type { BenchCase, Runner } from "../harness.ts";
import { caseInfos } from "../case_info.ts";
import { note, peerArgs, runPeerCases, webgpuAdapterName } from "./common.ts";

type T = tf.Tensor;

/** Waits for the GPU by reading one element of `t`, then frees `t`. */
async function settle(t: T): Promise<void> {
  const one = tf.tidy(() => t.reshape([-1]).slice(0, 1));
  await one.data();
  one.dispose();
  t.dispose();
}

function randn(shape: number[]): T {
  return tf.randomNormal(shape, 0, 1, "float32", 7);
}

/** A runner over fixed inputs whose run records `body` under tidy and settles its result. */
function runner(held: T[], body: () => T): Runner {
  return {
    run: () => settle(tf.tidy(body)),
    dispose: () => tf.dispose(held),
  };
}

function layerNorm(x: T, w: T, b: T): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(w).add(b);
}

function kernelCases(s: ReturnType<typeof peerArgs>["shapes"]): BenchCase[] {
  const info = caseInfos(s);
  const { rows, cols } = s;
  const matmuls = s.matmuls.map((m, i): BenchCase => ({
    info: info.matmul[i],
    prepare() {
      const lead = m.batch === 1 ? [] : [m.batch];
      const a = randn([...lead, m.m, m.k]);
      const b = randn([...lead, m.k, m.n]);
      return runner([a, b], () => tf.matMul(a, b));
    },
  }));
  const { batch, heads, seq, headDim } = s.attention;
  return [
    ...matmuls,
    {
      info: info.add,
      prepare() {
        const [a, b] = [randn([s.addElements]), randn([s.addElements])];
        return runner([a, b], () => tf.add(a, b));
      },
    },
    {
      info: info.softmaxFwd,
      prepare() {
        const x = randn([rows, cols]);
        return runner([x], () => tf.softmax(x));
      },
    },
    {
      info: info.softmaxFwdBwd,
      prepare() {
        const [x, dy] = [randn([rows, cols]), randn([rows, cols])];
        return runner([x, dy], () => tf.grad((v: T) => tf.softmax(v))(x, dy));
      },
    },
    {
      info: info.layerNormFwd,
      prepare() {
        const [x, w, b] = [randn([rows, cols]), randn([cols]), randn([cols])];
        return runner([x, w, b], () => layerNorm(x, w, b));
      },
    },
    {
      info: info.layerNormFwdBwd,
      prepare() {
        const [x, w, b, dy] = [
          randn([rows, cols]),
          randn([cols]),
          randn([cols]),
          randn([rows, cols]),
        ];
        const f = tf.grads((xv: T, wv: T, bv: T) => layerNorm(xv, wv, bv));
        return runner([x, w, b, dy], () => tf.addN(f([x, w, b], dy).map((g) => g.sum())));
      },
    },
    {
      info: info.crossEntropyFwdBwd,
      prepare() {
        const logits = randn([rows, cols]);
        const ids = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % cols);
        const onehot = tf.oneHot(tf.tensor1d(ids, "int32"), cols);
        const f = tf.grad((l: T) => tf.losses.softmaxCrossEntropy(onehot, l));
        return runner([logits, onehot], () => f(logits));
      },
    },
    {
      info: info.attention,
      prepare() {
        const q = randn([batch * heads, seq, headDim]);
        const k = randn([batch * heads, seq, headDim]);
        const mask = tf.tidy(() => tf.linalg.bandPart(tf.ones([seq, seq]), -1, 0).sub(1).mul(1e9));
        const scale = 1 / Math.sqrt(headDim);
        return runner(
          [q, k, mask],
          () => tf.softmax(tf.matMul(q, k, false, true).mul(scale).add(mask)),
        );
      },
    },
    {
      info: info.adamw,
      prepare() {
        const vars = s.adamParams.map((shape, i) => tf.variable(randn(shape), true, `p${i}`));
        const grads = vars.map((v) => ({ name: v.name, tensor: randn(v.shape) }));
        const opt = tf.train.adam(1e-3);
        return {
          async run() {
            opt.applyGradients(grads);
            await settle(vars[0].clone());
          },
          dispose() {
            opt.dispose();
            tf.dispose([...vars, ...grads.map((g) => g.tensor)]);
          },
        };
      },
    },
  ];
}

function mlpCase(s: ReturnType<typeof peerArgs>["shapes"]): BenchCase {
  const m = s.mlp;
  return {
    info: caseInfos(s).mlpStep("step"),
    prepare() {
      const x = randn([m.batch, m.inputs]);
      const y = randn([m.batch, m.outputs]);
      const w1 = tf.variable(randn([m.inputs, m.hidden]).mul(1 / Math.sqrt(m.inputs)));
      const w2 = tf.variable(randn([m.hidden, m.outputs]).mul(1 / Math.sqrt(m.hidden)));
      const b1 = tf.variable(tf.zeros([m.hidden]));
      const b2 = tf.variable(tf.zeros([m.outputs]));
      const opt = tf.train.adam(1e-3);
      return {
        async run() {
          const loss = opt.minimize(() => {
            const h = tf.relu(tf.matMul(x, w1).add(b1));
            return tf.losses.meanSquaredError(y, tf.matMul(h, w2).add(b2)) as tf.Scalar;
          }, true)!;
          await loss.data();
          loss.dispose();
        },
        dispose() {
          opt.dispose();
          tf.dispose([x, y, w1, w2, b1, b2]);
        },
      };
    },
  };
}

const args = peerArgs();
try {
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') returned false");
  await tf.ready();
} catch (e) {
  note(`cannot load the WebGPU backend: ${(e as Error).message}`);
  Deno.exit(0);
}
note("transformer step not measured for this peer; the MLP step is its step comparison");
await runPeerCases(
  [...kernelCases(args.shapes), mlpCase(args.shapes)],
  "tfjs-webgpu",
  await webgpuAdapterName(),
  args,
);
// Worker threads and the GPU device would keep the process alive after the last case.
Deno.exit(0);
