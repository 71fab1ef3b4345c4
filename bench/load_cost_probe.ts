/**
 * What a load costs on a CPU adapter: `deno run -A bench/load_cost_probe.ts [size]`.
 *
 * The engine's product kernel (kernels/matmul.wgsl.ts) keeps the lanes of an invocation group
 * along N and reads B by texel fetch and A at a workgroup-uniform index. This probe times the
 * opposite arrangement, lanes along M, in raw WebGPU (no engine), so the price of each kind of
 * load shows on its own: every lane fetches its own A row as a texel, and the B values, the same
 * for every lane, come either from a storage buffer at a uniform index or from a texture at
 * uniform coordinates. `rows` A rows per lane share each B load. It prints GFLOP/s of wall time
 * and per second of this process's CPU time scaled to the core count (meaningful when other
 * processes share the cores), and checks 16 entries against a CPU product.
 *
 * @module
 */

/** One arrangement: `cols` columns of C per lane, `rows` rows per lane, B read from `bFrom`. */
interface Variant {
  cols: number;
  rows: number;
  bFrom: "storage" | "texture";
}

const VARIANTS: Variant[] = [
  { cols: 16, rows: 2, bFrom: "storage" },
  { cols: 16, rows: 8, bFrom: "storage" },
  { cols: 16, rows: 2, bFrom: "texture" },
  { cols: 16, rows: 8, bFrom: "texture" },
  { cols: 32, rows: 4, bFrom: "texture" },
];
const LANES = 8;

function shader(v: Variant, n: number, k4: number): string {
  const n4 = n / 4;
  const cv = [...Array(v.cols / 4).keys()];
  const rs = [...Array(v.rows).keys()];
  const loadB = (c: number, j: number) =>
    v.bFrom === "storage"
      ? `bs[(k * 4u + ${j}u) * ${n4}u + nb + ${c}u]`
      : `textureLoad(bt, vec2u(nb + ${c}u, k * 4u + ${j}u), 0)`;
  return `
@group(0) @binding(0) var at: texture_2d<f32>;
${
    v.bFrom === "storage"
      ? "@group(0) @binding(1) var<storage, read> bs: array<vec4f>;"
      : "@group(0) @binding(1) var bt: texture_2d<f32>;"
  }
@group(0) @binding(2) var<storage, read_write> cs: array<vec4f>;
@compute @workgroup_size(${LANES})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let m0 = wid.x * ${LANES * v.rows}u + lid.x;
  let nb = wid.y * ${cv.length}u;
  ${rs.flatMap((r) => cv.map((c) => `var acc${r}_${c} = vec4f(0.0);`)).join(" ")}
  for (var k = 0u; k < ${k4}u; k++) {
    ${cv.flatMap((c) => [0, 1, 2, 3].map((j) => `let b${c}_${j} = ${loadB(c, j)};`)).join(" ")}
    ${
    rs.map((r) =>
      `{ let a = textureLoad(at, vec2u(k, m0 + ${r * LANES}u), 0);
    ${
        cv.map((c) =>
          `acc${r}_${c} = fma(vec4f(a.w), b${c}_3, fma(vec4f(a.z), b${c}_2, ` +
          `fma(vec4f(a.y), b${c}_1, fma(vec4f(a.x), b${c}_0, acc${r}_${c}))));`
        ).join(" ")
      } }`
    ).join("\n    ")
  }
  }
  ${
    rs.map((r) =>
      cv.map((c) => `cs[(m0 + ${r * LANES}u) * ${n4}u + nb + ${c}u] = acc${r}_${c};`).join(" ")
    ).join("\n  ")
  }
}`;
}

function cpuSeconds(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const size = Number(Deno.args[0] ?? 1024);
const adapter = await navigator.gpu.requestAdapter();
if (!adapter) throw new Error("load_cost_probe: no WebGPU adapter");
const dev = await adapter.requestDevice();
const a = Float32Array.from({ length: size * size }, () => Math.random() - 0.5);
const b = Float32Array.from({ length: size * size }, () => Math.random() - 0.5);
const texture = (data: Float32Array<ArrayBuffer>) => {
  const t = dev.createTexture({
    size: [size / 4, size],
    format: "rgba32float",
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
  });
  dev.queue.writeTexture({ texture: t }, data, { bytesPerRow: size * 4 }, [size / 4, size]);
  return t;
};
const aTex = texture(a);
const bTex = texture(b);
const bBuf = dev.createBuffer({
  size: b.byteLength,
  usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
});
dev.queue.writeBuffer(bBuf, 0, b);
const cBuf = dev.createBuffer({
  size: a.byteLength,
  usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
});
const readBuf = dev.createBuffer({
  size: a.byteLength,
  usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
});
const probes = [...Array(16).keys()].map((i) => [(i * 61) % size, (i * 97) % size]);
const expected = probes.map(([m, n]) => {
  let s = 0;
  for (let k = 0; k < size; k++) s += a[m * size + k] * b[k * size + n];
  return s;
});

console.log(`adapter: ${adapter.info.description}; ${size}³, lanes along M, best of 3 × 3`);
for (const v of VARIANTS) {
  const module = dev.createShaderModule({ code: shader(v, size, size / 4) });
  const pipeline = dev.createComputePipeline({ layout: "auto", compute: { module } });
  const bind = dev.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: aTex.createView() },
      { binding: 1, resource: v.bFrom === "storage" ? { buffer: bBuf } : bTex.createView() },
      { binding: 2, resource: { buffer: cBuf } },
    ],
  });
  const run = async (times: number) => {
    const encoder = dev.createCommandEncoder();
    for (let i = 0; i < times; i++) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(size / (LANES * v.rows), size / v.cols);
      pass.end();
    }
    dev.queue.submit([encoder.finish()]);
    await dev.queue.onSubmittedWorkDone();
  };
  await run(1);
  const copy = dev.createCommandEncoder();
  copy.copyBufferToBuffer(cBuf, 0, readBuf, 0, a.byteLength);
  dev.queue.submit([copy.finish()]);
  await readBuf.mapAsync(GPUMapMode.READ);
  const c = new Float32Array(readBuf.getMappedRange());
  const error = Math.max(...probes.map(([m, n], i) => Math.abs(c[m * size + n] - expected[i])));
  readBuf.unmap();
  let wall = Infinity;
  let cpu = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    await run(3);
    wall = Math.min(wall, (performance.now() - t0) / 3000);
    cpu = Math.min(cpu, (cpuSeconds() - cpu0) / 3);
  }
  const gflop = (2 * size ** 3) / 1e9;
  const perCpu = (gflop / cpu) * navigator.hardwareConcurrency;
  console.log(
    `B from ${v.bFrom.padEnd(7)} ${v.rows} rows × ${v.cols} cols per lane: ` +
      `${(gflop / wall).toFixed(1)} GFLOP/s (per CPU time: ${perCpu.toFixed(1)}), ` +
      `max error ${error.toExponential(1)}`,
  );
}
