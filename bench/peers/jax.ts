/**
 * Peer: jax-js on `--device webgpu` or `--device wasm`, in Deno, on the same shapes as ours.
 * Every op is a `jit` function (jax-js fuses what it can); a run ends with `blockUntilReady`.
 * jax-js functions take ownership of their arguments, so held inputs are passed as `.ref`.
 * layerNorm is `nn.standardize`·w + b; Adam(W) is written out, as jax-js has no optimizer.
 *
 * @module
 */
import {
  type Array as JaxArray,
  defaultDevice,
  grad,
  init,
  jit,
  nn,
  numpy as np,
  valueAndGrad,
} from "@jax-js/jax";
import type { BenchCase, Runner } from "../harness.ts";
import { caseInfos } from "../case_info.ts";
import type { BenchShapes } from "../shapes.ts";
import { note, peerArgs, runPeerCases, webgpuAdapterName } from "./common.ts";

type A = JaxArray;
// deno-lint-ignore no-explicit-any
type Fn = (...xs: A[]) => any;

function randn(shape: number[], seed: number): A {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  });
  return np.array(data).reshape(shape);
}

/** Frees every array leaf of a result. */
function disposeAll(x: unknown): void {
  if (Array.isArray(x)) x.forEach(disposeAll);
  else (x as A).dispose();
}

/** Waits for every array leaf of a result. */
async function ready(x: unknown): Promise<void> {
  if (Array.isArray(x)) { for (const y of x) await ready(y); }
  else await (x as A).blockUntilReady();
}

/** A runner calling the jitted `f` on `.ref`s of held inputs. */
function runner(held: A[], f: Fn): Runner {
  const jf = jit(f);
  return {
    async run() {
      const out = jf(...held.map((h) => h.ref));
      await ready(out);
      disposeAll(out);
    },
    dispose() {
      held.forEach((h) => h.dispose());
      jf.dispose();
    },
  };
}

const layerNorm = (x: A, w: A, b: A): A => nn.standardize(x, -1, { epsilon: 1e-5 }).mul(w).add(b);
const B1 = 0.9;
const B2 = 0.999;

/** One Adam(W) update of (p, g, m, v) → [p, m, v] at step `t`, lr 1e-3. */
function adamUpdate(p: A, g: A, m: A, v: A, t: number, wd: number): [A, A, A] {
  const m2 = m.mul(B1).add(g.ref.mul(1 - B1));
  const v2 = v.mul(B2).add(g.ref.mul(g).mul(1 - B2));
  const step = m2.ref.mul(1e-3 / (1 - B1 ** t))
    .div(np.sqrt(v2.ref.mul(1 / (1 - B2 ** t))).add(1e-8));
  return [p.mul(1 - 1e-3 * wd).sub(step), m2, v2];
}

function kernelCases(s: BenchShapes): BenchCase[] {
  const info = caseInfos(s);
  const { rows, cols } = s;
  const { batch, heads, seq, headDim } = s.attention;
  const cases: BenchCase[] = s.matmuls.map((m, i) => ({
    info: info.matmul[i],
    prepare() {
      const lead = m.batch === 1 ? [] : [m.batch];
      return runner(
        [randn([...lead, m.m, m.k], 1), randn([...lead, m.k, m.n], 2)],
        (a, b) => np.matmul(a, b),
      );
    },
  }));
  const ids = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % cols);
  return [
    ...cases,
    {
      info: info.add,
      prepare: () =>
        runner([randn([s.addElements], 1), randn([s.addElements], 2)], (a, b) => a.add(b)),
    },
    {
      info: info.softmaxFwd,
      prepare: () => runner([randn([rows, cols], 1)], (x) => nn.softmax(x)),
    },
    {
      info: info.softmaxFwdBwd,
      prepare: () =>
        runner(
          [randn([rows, cols], 1), randn([rows, cols], 2)],
          grad((x: A, dy: A) => nn.softmax(x).mul(dy).sum()),
        ),
    },
    {
      info: info.layerNormFwd,
      prepare: () =>
        runner([randn([rows, cols], 1), randn([cols], 2), randn([cols], 3)], layerNorm),
    },
    {
      info: info.layerNormFwdBwd,
      prepare: () =>
        runner(
          [randn([rows, cols], 1), randn([cols], 2), randn([cols], 3), randn([rows, cols], 4)],
          grad((x: A, w: A, b: A, dy: A) => layerNorm(x, w, b).mul(dy).sum(), {
            argnums: [0, 1, 2],
          }),
        ),
    },
    {
      info: info.crossEntropyFwdBwd,
      prepare: () =>
        runner(
          [randn([rows, cols], 1), nn.oneHot(np.array(ids, { dtype: np.int32 }), cols)],
          grad((l: A, onehot: A) => nn.logSoftmax(l).mul(onehot).sum().mul(-1 / rows)),
        ),
    },
    {
      info: info.attention,
      prepare() {
        const causal = Float32Array.from(
          { length: seq * seq },
          (_, i) => (i % seq > Math.floor(i / seq) ? -1e9 : 0),
        );
        return runner(
          [
            randn([batch * heads, seq, headDim], 1),
            randn([batch * heads, seq, headDim], 2),
            np.array(causal).reshape([seq, seq]),
          ],
          (q, k, mask) =>
            nn.softmax(
              np.matmul(q, np.transpose(k, [0, 2, 1])).mul(1 / Math.sqrt(headDim)).add(mask),
            ),
        );
      },
    },
    {
      info: info.adamw,
      prepare() {
        let state = s.adamParams.map((
          shape,
          i,
        ) => [randn(shape, i), np.zeros(shape), np.zeros(shape)]);
        const grads = s.adamParams.map((shape, i) => randn(shape, 100 + i));
        const update = jit((p: A, g: A, m: A, v: A) => adamUpdate(p, g, m, v, 1, 0.01));
        return {
          async run() {
            state = state.map(([p, m, v], i) => update(p, grads[i].ref, m, v));
            await ready(state);
          },
          dispose() {
            disposeAll([...state.flat(), ...grads]);
            update.dispose();
          },
        };
      },
    },
  ];
}

function mlpCase(s: BenchShapes): BenchCase {
  const m = s.mlp;
  return {
    info: caseInfos(s).mlpStep("step"),
    prepare() {
      const x = randn([m.batch, m.inputs], 1);
      const y = randn([m.batch, m.outputs], 2);
      let params: A[] = [
        randn([m.inputs, m.hidden], 3).mul(1 / Math.sqrt(m.inputs)),
        np.zeros([m.hidden]),
        randn([m.hidden, m.outputs], 4).mul(1 / Math.sqrt(m.hidden)),
        np.zeros([m.outputs]),
      ];
      let moments: A[] = params.flatMap((p) => [np.zeros(p.shape), np.zeros(p.shape)]);
      const loss = (ps: A[], xb: A, yb: A): A => {
        const [w1, b1, w2, b2] = ps;
        const h = np.maximum(np.matmul(xb, w1).add(b1), 0);
        return np.square(np.matmul(h, w2).add(b2).sub(yb)).mean();
      };
      const step = jit((ps: A[], ms: A[], xb: A, yb: A) => {
        const [value, grads] = valueAndGrad(loss)(ps.map((p) => p.ref), xb, yb);
        const updated = ps.map((p, i) => adamUpdate(p, grads[i], ms[2 * i], ms[2 * i + 1], 1, 0));
        return [value, updated.map((u) => u[0]), updated.flatMap((u) => [u[1], u[2]])];
      });
      return {
        async run() {
          const [value, ps, ms] = step(params, moments, x.ref, y.ref) as [A, A[], A[]];
          params = ps;
          moments = ms;
          await value.data(); // consumes the array
        },
        dispose() {
          disposeAll([x, y, ...params, ...moments]);
          step.dispose();
        },
      };
    },
  };
}

const args = peerArgs();
const device = args.device === "wasm" ? "wasm" : "webgpu";
const impl = `jax-js-${device}`;
const available: string[] = await init(device).catch((e) => {
  note(`init failed: ${(e as Error).message}`);
  return [];
});
if (!available.includes(device)) {
  note(`the ${device} backend is not available in this Deno`);
  Deno.exit(0);
}
defaultDevice(device);
const adapter = device === "webgpu"
  ? await webgpuAdapterName()
  : `CPU (WebAssembly, ${navigator.hardwareConcurrency} cores)`;
note("transformer step not measured for this peer; the MLP step is its step comparison");
await runPeerCases([...kernelCases(args.shapes), mlpCase(args.shapes)], impl, adapter, args);
// Worker threads and the GPU device would keep the process alive after the last case.
Deno.exit(0);
