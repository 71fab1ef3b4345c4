/**
 * Matmul throughput probe: `deno run -A bench/matmul_probe.ts [runs] [repeats]`. For each shape it
 * builds the operands, warms up (pipeline compile, texture allocation), then times `runs` forward
 * products recorded back to back and one `sync()`; it keeps the best of `repeats` (default 3) such
 * timings because a 2-core CPU adapter shares its cores with everything else on the machine.
 * GFLOP/s = 2·M·N·K·batch·runs / seconds. On Linux it also prints the rate per second of this
 * process's CPU time scaled to the core count, which stays meaningful on a shared CPU adapter.
 *
 * @module
 */
import { device, noGrad, ops, randn, sync, type Tensor, tidy } from "../mod.ts";

/** One benchmarked product: a is [...batch, M, K], b is [K, N] or [...batch, K, N]. */
interface ProbeShape {
  label: string;
  a: number[];
  b: number[];
  transB?: boolean;
}

const SHAPES: ProbeShape[] = [
  { label: "1024³", a: [1024, 1024], b: [1024, 1024] },
  { label: "4096×256×256", a: [4096, 256], b: [256, 256] },
  { label: "4096×256×1024", a: [4096, 256], b: [256, 1024] },
  { label: "4096×1024×256", a: [4096, 1024], b: [1024, 256] },
  { label: "64×(128×64 @ 64×128)", a: [64, 128, 64], b: [64, 64, 128] },
  { label: "1024³ B transposed", a: [1024, 1024], b: [1024, 1024], transB: true },
  { label: "32×(768×768 @ 768×32)", a: [32, 768, 768], b: [32, 768, 32] },
];

/** This process's user + system CPU seconds, or NaN off Linux. */
function cpuSeconds(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function probe(
  shape: ProbeShape,
  runs: number,
  repeats: number,
): Promise<{ wall: number; cpu: number }> {
  const a = randn(shape.a);
  const b = randn(shape.b);
  const transB = shape.transB ?? false;
  const run = () => noGrad(() => tidy(() => void ops.matmul(a, b, { transB })));
  run();
  await sync();
  let best = 0;
  let flops = 0;
  const cpuStart = cpuSeconds();
  for (let rep = 0; rep < repeats; rep++) {
    const start = performance.now();
    for (let i = 0; i < runs; i++) run();
    await sync();
    const seconds = (performance.now() - start) / 1000;
    const [M, K] = shape.a.slice(-2);
    const N = transB ? shape.b.at(-2)! : shape.b.at(-1)!;
    const batch = shape.a.slice(0, -2).reduce((x, d) => x * d, 1);
    flops = 2 * M * N * K * batch * runs;
    best = Math.max(best, flops / seconds / 1e9);
  }
  const cpu = (flops * repeats * navigator.hardwareConcurrency) / (cpuSeconds() - cpuStart) / 1e9;
  for (const t of [a, b] as Tensor[]) t.dispose();
  return { wall: best, cpu };
}

const adapter = await device.init();
const runs = Number(Deno.args[0] ?? 5);
const repeats = Number(Deno.args[1] ?? 3);
console.log(`adapter: ${adapter.description}; best of ${repeats} × ${runs} runs`);
for (const shape of SHAPES) {
  const { wall, cpu } = await probe(shape, runs, repeats);
  console.log(
    `${shape.label.padEnd(24)} ${wall.toFixed(1)} GFLOP/s (per CPU time: ${cpu.toFixed(1)})`,
  );
}
