/**
 * Long-context attention probe: `deno run -A bench/attention_probe.ts`. Times the products and the
 * softmax of one attention layer at latent-QA's context size (batch 8, 4 heads, 768 tokens, head
 * dim 32) and the narrow products 32×[768,768]·[768,N], forward only: medians of the bench
 * harness's full timing, each run one product (or softmax) and one `sync()`.
 *
 * @module
 */
import { device, noGrad, ops, randn, sync, type Tensor, tensor, tidy } from "../mod.ts";
import { FULL_TIMING, time } from "./harness.ts";

const adapter = await device.init();
console.log(`adapter: ${adapter.description}`);
const [b, h, t, d] = [8, 4, 768, 32];
const p = randn([b * h, t, t]);
const v = randn([b * h, t, d]);
const scores = randn([b, h, t, t]);
// Key padding: every sequence keeps its first 700 of 768 keys.
const mask = tensor(
  Float32Array.from({ length: b * t }, (_, i) => (i % t < 700 ? 0 : -1e9)),
  [b, 1, 1, t],
);
const rows: [string, () => void][] = [
  [`P·V ${b * h}×([${t},${t}] @ [${t},${d}])`, () => void ops.matmul(p, v)],
  ["dV = Pᵀ·dO, same shapes", () => void ops.matmul(p, v, { transA: true })],
  [`softmax ${b}×${h}×${t}×${t}, no mask`, () => void ops.softmax(scores)],
  [`softmax ${b}×${h}×${t}×${t}, key-padding mask`, () => void ops.softmax(scores, mask)],
];
const inputs: Tensor[] = [p, v, scores, mask];
for (const n of [8, 16, 64, 128]) {
  const narrow = randn([b * h, t, n]);
  inputs.push(narrow);
  rows.push([`${b * h}×([${t},${t}] @ [${t},${n}])`, () => void ops.matmul(p, narrow)]);
}
for (const [label, run] of rows) {
  const timing = await time(async () => {
    noGrad(() => tidy(run));
    await sync();
  }, FULL_TIMING);
  const spread = `${timing.min.toFixed(1)}–${timing.max.toFixed(1)}`;
  console.log(`${label.padEnd(40)} ${timing.ms.toFixed(1)} ms (min–max ${spread}, n ${timing.n})`);
}
for (const x of inputs) x.dispose();
