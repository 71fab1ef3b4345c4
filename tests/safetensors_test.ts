import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { io, optim, type Tensor, tensor } from "../mod.ts";
import { Rng } from "../core/random.ts";
import { readBuffer, writeBuffer } from "../kernels/runtime.ts";

const rng = new Rng(5);
const randomF32 = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 4 - 2);

/** Builds a file the way the reference writer lays it out: u64 LE length, space-padded JSON, data. */
function handWrittenFile(headerJson: string, data: number[]): Uint8Array {
  let json = headerJson;
  while ((json.length % 8) !== 0) json += " ";
  const out: number[] = [];
  let n = json.length;
  for (let i = 0; i < 8; i++) {
    out.push(n & 0xff);
    n = Math.floor(n / 256);
  }
  for (const ch of json) out.push(ch.charCodeAt(0));
  return Uint8Array.from([...out, ...data]);
}

/** Little-endian bytes of f32 values, written byte by byte from their bit patterns. */
function f32Bytes(values: number[]): number[] {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  return [...bits].flatMap((b) => [b & 0xff, (b >>> 8) & 0xff, (b >>> 16) & 0xff, b >>> 24]);
}

function u16Bytes(words: number[]): number[] {
  return words.flatMap((w) => [w & 0xff, w >>> 8]);
}

function i32Bytes(values: number[]): number[] {
  return values.flatMap((v) => {
    const u = v >>> 0;
    return [u & 0xff, (u >>> 8) & 0xff, (u >>> 16) & 0xff, u >>> 24];
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "safetensors_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rawBytes(t: Tensor): Promise<Uint8Array> {
  return new Uint8Array(await readBuffer(t.buffer, t.byteLength));
}

gpuTest(
  "a file written byte by byte like PyTorch's safetensors loads with names, dtypes, shapes and values",
  async () => {
    const header = JSON.stringify({
      "__metadata__": { format: "pt" },
      "encoder.weight": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
      "ids": { dtype: "I32", shape: [3], data_offsets: [24, 36] },
      "half": { dtype: "F16", shape: [3], data_offsets: [36, 42] },
      "brain": { dtype: "BF16", shape: [2], data_offsets: [42, 46] },
      "empty": { dtype: "F32", shape: [0, 4], data_offsets: [46, 46] },
    });
    const weights = [1.5, -2.25, 3, 0.125, -0.5, 1e-3];
    // f16 1.0 = 0x3C00, −2.0 = 0xC000, 0.5 = 0x3800; bf16 1.0 = 0x3F80, −3.0 = 0xC040.
    const bytes = handWrittenFile(header, [
      ...f32Bytes(weights),
      ...i32Bytes([7, -1, 2147483647]),
      ...u16Bytes([0x3c00, 0xc000, 0x3800]),
      ...u16Bytes([0x3f80, 0xc040]),
    ]);
    await withTempDir(async (dir) => {
      const path = `${dir}/hand.safetensors`;
      await Deno.writeFile(path, bytes);
      const { tensors, metadata } = await io.loadSafetensors(path);
      assertEquals(metadata, { format: "pt" });
      assertEquals(Object.keys(tensors).sort(), [
        "brain",
        "empty",
        "encoder.weight",
        "half",
        "ids",
      ]);
      const w = tensors["encoder.weight"];
      assertEquals([w.dtype, ...w.shape], ["f32", 2, 3]);
      assertEquals(Array.from(await w.data()), Array.from(Float32Array.from(weights)));
      assertEquals([tensors.ids.dtype, Array.from(await tensors.ids.data())], [
        "i32",
        [7, -1, 2147483647],
      ]);
      assertEquals([tensors.half.dtype, Array.from(await tensors.half.data())], ["f16", [
        1,
        -2,
        0.5,
      ]]);
      assertEquals([tensors.brain.dtype, Array.from(await tensors.brain.data())], ["f32", [1, -3]]);
      assertEquals([tensors.empty.size, ...tensors.empty.shape], [0, 0, 4]);
      for (const t of Object.values(tensors)) t.dispose();
    });
  },
);

gpuTest(
  "safetensors round trip preserves names, dtypes, shapes and bytes; an independent parse agrees",
  async () => {
    const original: Record<string, Tensor> = {
      "layers.0.q.weight": tensor(randomF32(15), [3, 5]),
      "layers.0.q.bias": tensor(randomF32(5), [5]),
      "positions": tensor(Int32Array.from([0, 1, -5, 9, 123456, 7, 8]), [7], "i32"),
      "scale": tensor(randomF32(1), []),
      "odd_half": tensor(randomF32(5), [5], "f16"),
      "nothing": tensor(new Float32Array(0), [0, 3]),
    };
    const expectedBytes: Record<string, Uint8Array> = {};
    for (const [k, t] of Object.entries(original)) expectedBytes[k] = await rawBytes(t);
    await withTempDir(async (dir) => {
      const path = `${dir}/model.safetensors`;
      await io.saveSafetensors(path, original, { config: '{"dim":5}' });
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

      // Independent reader: parse the layout by hand, not through the module under test.
      const file = await Deno.readFile(path);
      const view = new DataView(file.buffer);
      const n = Number(view.getBigUint64(0, true));
      assertEquals(n % 8, 0, "header length keeps the data 8-byte aligned");
      const text = new TextDecoder().decode(file.subarray(8, 8 + n));
      assert(/^\{.*\} *$/s.test(text), "header is JSON padded with spaces");
      const header = JSON.parse(text);
      assertEquals(header.__metadata__, { config: '{"dim":5}' });
      const dataStart = 8 + n;
      let covered = 0;
      for (const [name, t] of Object.entries(original)) {
        const h = header[name];
        const dtype = { f32: "F32", i32: "I32", f16: "F16" }[t.dtype];
        assertEquals([h.dtype, h.shape], [dtype, [...t.shape]], name);
        const [b, e] = h.data_offsets;
        assertEquals(
          Array.from(file.subarray(dataStart + b, dataStart + e)),
          Array.from(expectedBytes[name]),
          name,
        );
        covered += e - b;
      }
      assertEquals(dataStart + covered, file.length, "data is contiguous with nothing trailing");

      await crossCheckWithPython(path, original);

      const { tensors, metadata } = await io.loadSafetensors(path);
      assertEquals(metadata, { config: '{"dim":5}' });
      for (const [name, t] of Object.entries(original)) {
        const back = tensors[name];
        assertEquals([back.dtype, [...back.shape]], [t.dtype, [...t.shape]], name);
        assertEquals(Array.from(await rawBytes(back)), Array.from(expectedBytes[name]), name);
        back.dispose();
      }
    });
    for (const t of Object.values(original)) t.dispose();
  },
);

/** Reads the file with Python's safetensors when installed, else with a NumPy reader, else skips. */
async function crossCheckWithPython(path: string, original: Record<string, Tensor>): Promise<void> {
  const script = `
import json, struct, sys
path = sys.argv[1]
try:
    from safetensors.numpy import load_file
    arrays = load_file(path); reader = "safetensors"
except ImportError:
    import numpy as np
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n]); header.pop("__metadata__", None)
    kinds = {"F32": "<f4", "I32": "<i4", "F16": "<f2"}
    arrays = {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                               dtype=kinds[v["dtype"]]).reshape(v["shape"]) for k, v in header.items()}
    reader = "numpy"
print(json.dumps({"reader": reader, "tensors": {k: {"shape": list(a.shape), "values": a.astype("float64").ravel().tolist()} for k, a in arrays.items()}}))
`;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("python3", { args: ["-c", script, path] }).output();
  } catch {
    console.log("note: python3 not found; skipping the Python cross-check");
    return;
  }
  if (!output.success) {
    console.log(
      `note: skipping the Python cross-check (${
        new TextDecoder().decode(output.stderr).trim().split("\n").at(-1)
      })`,
    );
    return;
  }
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  if (result.reader !== "safetensors") {
    console.log(
      "note: Python safetensors is not installed; cross-checked with a NumPy reader instead",
    );
  }
  for (const [name, t] of Object.entries(original)) {
    const py = result.tensors[name];
    assertEquals(py.shape, [...t.shape], `python shape of ${name}`);
    assertEquals(py.values, Array.from(await t.data()), `python values of ${name}`);
  }
}

Deno.test("corrupt or truncated safetensors fail with an error naming the file and the problem", () => {
  const good = handWrittenFile(
    JSON.stringify({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }),
    f32Bytes([1, 2]),
  );
  io.readSafetensorsHost(good, "good.safetensors");
  const withHeader = (h: unknown, data: number[]) => handWrittenFile(JSON.stringify(h), data);
  const cases: [string, Uint8Array, string][] = [
    ["tiny", Uint8Array.of(1, 2, 3), "shorter than the 8-byte header length"],
    ["truncated data", good.subarray(0, good.length - 3), "run past"],
    ["truncated header", good.subarray(0, 12), "exceeds"],
    ["bad json", handWrittenFile('{"a": {"dtype": ', []), "not valid UTF-8 JSON"],
    ["not an object", handWrittenFile("[1, 2]", []), "not a JSON object"],
    [
      "out of range",
      withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, f32Bytes([1, 2])),
      "run past",
    ],
    [
      "overlap",
      withHeader({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, f32Bytes([1, 2])),
      "overlap",
    ],
    [
      "unknown dtype",
      withHeader({ a: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      "unknown or unsupported dtype",
    ],
    [
      "size mismatch",
      withHeader({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      "spans 8 bytes",
    ],
    [
      "bad shape",
      withHeader({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      "invalid shape",
    ],
    [
      "bad metadata",
      withHeader({ __metadata__: { n: 3 } }, []),
      "is not a string",
    ],
  ];
  for (const [name, bytes, fragment] of cases) {
    const err = assertThrows(() => io.readSafetensorsHost(bytes, `${name}.safetensors`), fragment);
    assert(err instanceof io.SafetensorsError, `${name}: ${err}`);
    assert(
      err.message.includes(`${name}.safetensors`),
      `${name}: the file is named: ${err.message}`,
    );
  }
});

gpuTest("loading a truncated file from disk names the path", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/cut.safetensors`;
    const t = tensor(randomF32(64), [8, 8]);
    await io.saveSafetensors(path, { t });
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 100));
    const err = await assertRejects(() => io.loadSafetensors(path), io.SafetensorsError);
    assert(err.message.includes(path) && err.message.includes("run past"), err.message);
    t.dispose();
  });
});

Deno.test("atomic writes leave no temporary file, on success or on failure", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/x.bin`;
    await io.writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    await io.writeFileAtomic(path, Uint8Array.of(4, 5));
    assertEquals(Array.from(await Deno.readFile(path)), [4, 5]);
    // Renaming over a non-empty directory fails: the old content stays and no temp file remains.
    await Deno.mkdir(`${dir}/busy`);
    await Deno.writeFile(`${dir}/busy/keep`, Uint8Array.of(9));
    await assertRejects(() => io.writeFileAtomic(`${dir}/busy`, Uint8Array.of(7)), Error);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["busy", "x.bin"]);
  });
});

gpuTest(
  "a checkpoint restores model weights and optimizer state by name; the next step is bit-identical",
  async () => {
    const make = (values: Float32Array[]) => ({
      "w": tensor(values[0], [4, 3]).requireGrad(),
      "b": tensor(values[1], [3]).requireGrad(),
    });
    const init = [randomF32(12), randomF32(3)];
    const model = make(init);
    const opt = new optim.AdamW([{ params: [model.w] }, { params: [model.b], weightDecay: 0 }], {
      lr: 0.01,
    });
    const grads = Array.from({ length: 3 }, () => [randomF32(12), randomF32(3)]);
    const setGrads = (m: Record<string, Tensor>, g: Float32Array[]) => {
      m.w.grad = tensor(g[0], [4, 3]);
      m.b.grad = tensor(g[1], [3]);
    };
    for (const g of grads.slice(0, 2)) {
      setGrads(model, g);
      opt.step();
      opt.zeroGrad();
    }
    await withTempDir(async (dir) => {
      await io.saveCheckpoint(`${dir}/step-2`, {
        model,
        optimizer: opt,
        metadata: { arch: "toy" },
        extra: { epoch: 1 },
      });
      assertEquals([...Deno.readDirSync(`${dir}/step-2`)].map((e) => e.name).sort(), [
        "model.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
      ]);
      const optFile = io.readSafetensorsHost(
        await Deno.readFile(`${dir}/step-2/optimizer.safetensors`),
      );
      assertEquals(Object.keys(optFile.tensors).sort(), ["m/b", "m/w", "v/b", "v/w"]);

      const fresh = make([new Float32Array(12), new Float32Array(3)]);
      const opt2 = new optim.AdamW([{ params: [fresh.w] }, { params: [fresh.b] }], { lr: 1 });
      const loaded = await io.loadCheckpoint(`${dir}/step-2`, { optimizer: opt2, names: fresh });
      assertEquals([loaded.step, loaded.extra, loaded.metadata], [2, { epoch: 1 }, {
        arch: "toy",
      }]);
      assertEquals(await opt2.appliedSteps(), 2);
      assertEquals(opt2.groups.map((g) => g.weightDecay), [0.01, 0]);
      // Copy the loaded weights into the fresh model's own tensors (what loadStateDict will do).
      for (const name of ["w", "b"] as const) {
        const values = await loaded.tensors[name].data();
        assertEquals(Array.from(values), Array.from(await model[name].data()), `${name} restored`);
        writeBuffer(fresh[name].buffer, values);
        loaded.tensors[name].dispose();
      }
      setGrads(model, grads[2]);
      setGrads(fresh, grads[2]);
      opt.step();
      opt2.step();
      for (const name of ["w", "b"] as const) {
        assertEquals(
          Array.from(await rawBytes(fresh[name])),
          Array.from(await rawBytes(model[name])),
        );
      }
      await Deno.remove(`${dir}/step-2/trainer_state.json`);
      const err = await assertRejects(() => io.loadCheckpoint(`${dir}/step-2`), Error);
      assert(err.message.includes("incomplete"), err.message);
      opt2.dispose();
      for (const t of Object.values(fresh)) t.dispose();
    });
    opt.dispose();
    for (const t of Object.values(model)) t.dispose();
  },
);
