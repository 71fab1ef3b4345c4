/**
 * Host-memory probe of matmul: `deno run -A bench/product_rss_probe.ts [M K N] [products]`.
 * Runs `products` (default 300) products [M,K]·[K,N] (default 3840·128·8, a LoRA down-projection
 * of a CLaRa pretrain batch, which CPU adapters compute as its transpose), each with a fresh left
 * operand and one readback, and prints the process's resident memory every 100 products. Flat
 * after warm-up means the path returns what it takes; the pools of GPU buffers and textures are
 * printed beside it, so growth outside them shows.
 *
 * @module
 */
import { device, ops, randn, tidy } from "../mod.ts";
import { poolStats } from "../core/buffer_pool.ts";
import { computesTranspose } from "../kernels/matmul.wgsl.ts";
import { counters } from "../kernels/runtime.ts";

const adapter = await device.init();
const args = Deno.args.map(Number);
if (args.some((x) => !Number.isInteger(x) || x < 1)) {
  throw new Error(
    `product_rss_probe: expected positive integers M K N [products], got ${Deno.args}`,
  );
}
const [m, k, n] = args.length >= 3 ? args : [3840, 128, 8];
const products = args[3] ?? 300;
console.log(
  `adapter: ${adapter.description}; [${m},${k}]·[${k},${n}], ${products} products, ` +
    `computed as its transpose: ${computesTranspose(adapter.description, m, n)}`,
);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const weight = randn([k, n], { seed: 1 });
for (let i = 0; i <= products; i++) {
  const total = tidy(() => ops.sum(ops.matmul(randn([m, k], { seed: i + 2 }), weight)));
  await total.data();
  total.dispose();
  if (i % 100 === 0) {
    const pool = poolStats();
    console.log(
      `${i} products: rss ${mib(Deno.memoryUsage().rss)}, pooled buffers ${
        mib(pool.pooledBytes)
      }, textures created ${counters.textures}`,
    );
  }
}
weight.dispose();
