import { assert, assertEquals, assertRejects } from "./assert.ts";
import { gpuTest, withTempDir } from "./helpers.ts";
import { io, optim, type Tensor, tensor } from "../mod.ts";

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function rejection(fn: () => Promise<unknown>): Promise<string> {
  return (await assertRejects(fn, Error)).message;
}

const listing = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** A two-tensor model with an AdamW that has taken one step. */
function trainedToy(seed: number) {
  const model: Record<string, Tensor> = {
    w: tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(seed + i)), [4, 3])
      .requireGrad(),
    b: tensor(Float32Array.of(seed, -seed, 0.5), [3]).requireGrad(),
  };
  const opt = new optim.AdamW([{ params: [model.w, model.b] }], { lr: 0.01 });
  model.w.grad = tensor(new Float32Array(12).fill(0.1), [4, 3]);
  model.b.grad = tensor(new Float32Array(3).fill(-0.2), [3]);
  opt.step();
  opt.zeroGrad();
  const dispose = () => {
    opt.dispose();
    for (const t of Object.values(model)) t.dispose();
  };
  return { model, opt, dispose };
}

function disposeAll(tensors: Record<string, Tensor>): void {
  for (const t of Object.values(tensors)) t.dispose();
}

gpuTest("a checkpoint's manifest records every file's size and sha256", async () => {
  const toy = trainedToy(1);
  await withTempDir(async (dir) => {
    const ck = `${dir}/ck`;
    await io.saveCheckpoint(ck, {
      model: toy.model,
      optimizer: toy.opt,
      files: { "tokenizer.json": '{"model":{}}\n', "config.json": "{}\n" },
    });
    assertEquals(listing(dir), ["ck"], "no staging sibling is left");
    assertEquals(listing(ck), [
      "config.json",
      "model.safetensors",
      "optimizer.safetensors",
      "tokenizer.json",
      "trainer_state.json",
    ]);
    const state = JSON.parse(Deno.readTextFileSync(`${ck}/trainer_state.json`)) as io.TrainerState;
    assertEquals(state.format, "fast-clara-checkpoint/2");
    for (const name of Object.keys(state.files!)) {
      const bytes = Deno.readFileSync(`${ck}/${name}`);
      assertEquals(state.files![name], { bytes: bytes.byteLength, sha256: await sha256(bytes) });
    }
    assertEquals(Object.keys(state.files!).length, 4);
    const loaded = await io.loadCheckpoint(ck);
    assertEquals(Array.from(await loaded.tensors.b.data()), Array.from(await toy.model.b.data()));
    disposeAll(loaded.tensors);
  });
  toy.dispose();
});

gpuTest(
  "loadCheckpoint names the file with a flipped bit, trailing garbage or a truncation",
  async () => {
    const toy = trainedToy(2);
    await withTempDir(async (dir) => {
      const ck = `${dir}/ck`;
      await io.saveCheckpoint(ck, {
        model: toy.model,
        optimizer: toy.opt,
        files: { "tokenizer.json": '{"model":{}}\n' },
      });
      const state = JSON.parse(
        Deno.readTextFileSync(`${ck}/trainer_state.json`),
      ) as io.TrainerState;
      const load = () => io.loadCheckpoint(ck, { optimizer: toy.opt, names: toy.model });
      const damage = async (
        name: string,
        change: (b: Uint8Array) => Uint8Array,
        expected: (bytes: Uint8Array) => Promise<string>,
      ) => {
        const path = `${ck}/${name}`;
        const good = Deno.readFileSync(path);
        const bad = change(good.slice());
        Deno.writeFileSync(path, bad);
        assertEquals(await rejection(load), await expected(bad), name);
        Deno.writeFileSync(path, good);
      };
      const recorded = (name: string) => state.files![name];
      const flipped = (name: string) => async (bad: Uint8Array) =>
        `${ck}/${name}: sha256 ${await sha256(bad)} does not match the ${
          recorded(name).sha256
        } that trainer_state.json records (the file is corrupt)`;
      // A bit deep in the weights' data, where the safetensors reader itself cannot notice.
      await damage("model.safetensors", (b) => {
        b[b.length - 5] ^= 0x10;
        return b;
      }, flipped("model.safetensors"));
      await damage("optimizer.safetensors", (b) => {
        b[b.length - 1] ^= 0x01;
        return b;
      }, flipped("optimizer.safetensors"));
      await damage("tokenizer.json", (b) => {
        b[2] ^= 0x20;
        return b;
      }, flipped("tokenizer.json"));
      const size = recorded("model.safetensors").bytes;
      await damage(
        "model.safetensors",
        (b) => Uint8Array.from([...b, 0, 0, 0, 0]),
        () =>
          Promise.resolve(
            `${ck}/model.safetensors: ${size + 4} bytes, but trainer_state.json records ${size} ` +
              "(the file was appended to)",
          ),
      );
      await damage(
        "model.safetensors",
        (b) => b.subarray(0, b.length - 8),
        () =>
          Promise.resolve(
            `${ck}/model.safetensors: ${size - 8} bytes, but trainer_state.json records ${size} ` +
              "(the file was truncated)",
          ),
      );
      Deno.removeSync(`${ck}/tokenizer.json`);
      assertEquals(
        await rejection(load),
        `checkpoint ${ck} is incomplete: tokenizer.json is missing`,
      );
      Deno.writeTextFileSync(`${ck}/trainer_state.json`, '{"format": "fast-clara-checkpoint/2", ');
      assert(
        (await rejection(load)).startsWith(
          `checkpoint ${ck} is incomplete or unreadable: ${ck}/trainer_state.json: `,
        ),
        "a corrupt trainer_state.json is named",
      );
    });
    toy.dispose();
  },
);

gpuTest("a corrupt optimizer-state JSON names its file", async () => {
  const toy = trainedToy(3);
  await withTempDir(async (dir) => {
    const path = `${dir}/optimizer.safetensors`;
    await io.saveOptimizerState(path, toy.opt, toy.model);
    const file = io.readSafetensorsHost(Deno.readFileSync(path), path);
    const rewrite = (state: string) =>
      Deno.writeFileSync(path, io.encodeSafetensors(file.tensors, { ...file.metadata, state }));
    rewrite(file.metadata.state.slice(0, -2));
    const message = await rejection(() => io.loadOptimizerState(path, toy.opt, toy.model));
    assert(
      message.startsWith(
        `invalid safetensors file ${path}: the optimizer header (__metadata__.state) is not ` +
          "valid JSON (",
      ),
      message,
    );
    rewrite('{"kind": "adamw"}');
    assertEquals(
      await rejection(() => io.loadOptimizerState(path, toy.opt, toy.model)),
      `invalid safetensors file ${path}: the optimizer header (__metadata__.state) lacks kind, ` +
        "params, groups or its step counters",
    );
  });
  toy.dispose();
});

gpuTest(
  "saveCheckpoint swaps whole directories; a swap killed between its renames is recovered",
  async () => {
    const first = trainedToy(4), second = trainedToy(5);
    await withTempDir(async (dir) => {
      const ck = `${dir}/last`;
      await io.saveCheckpoint(ck, { model: first.model, step: 1, files: { "a.txt": "one" } });
      // A kill while writing the next one leaves a half-written staging directory.
      Deno.mkdirSync(`${ck}.partial`);
      Deno.writeTextFileSync(`${ck}.partial/model.safetensors`, "half");
      let loaded = await io.loadCheckpoint(ck);
      assertEquals(loaded.step, 1);
      disposeAll(loaded.tensors);
      // The next save replaces everything: a.txt (not passed again) is gone, so is the staging dir.
      await io.saveCheckpoint(ck, { model: second.model, step: 2 });
      assertEquals(listing(dir), ["last"]);
      assertEquals(listing(ck), ["model.safetensors", "trainer_state.json"]);
      // A kill between the two renames: `last` is gone, the old one is `last.previous`.
      Deno.renameSync(ck, `${ck}.previous`);
      assertEquals(await io.recoverCheckpoint(ck), true);
      assertEquals(listing(dir), ["last"]);
      Deno.renameSync(ck, `${ck}.previous`);
      loaded = await io.loadCheckpoint(ck);
      assertEquals(loaded.step, 2, "loadCheckpoint recovers by itself");
      assertEquals(
        Array.from(await loaded.tensors.b.data()),
        Array.from(await second.model.b.data()),
      );
      disposeAll(loaded.tensors);
      assertEquals(await io.recoverCheckpoint(`${dir}/none`), false);
    });
    first.dispose();
    second.dispose();
  },
);

gpuTest(
  "saveCheckpoint refuses to replace a directory holding files that are not its own",
  async () => {
    const toy = trainedToy(6);
    await withTempDir(async (dir) => {
      Deno.writeTextFileSync(`${dir}/notes.txt`, "mine");
      assertEquals(
        await rejection(() => io.saveCheckpoint(dir, { model: toy.model })),
        `saveCheckpoint: ${dir} holds notes.txt, which are not part of a checkpoint; a checkpoint ` +
          "replaces its directory as a whole, so save it into a directory of its own (or pass " +
          "such files in `files`)",
      );
      assertEquals(listing(dir), ["notes.txt"], "nothing was touched");
      assertEquals(
        await rejection(() =>
          io.saveCheckpoint(`${dir}/ck`, { model: toy.model, files: { "../x": "" } })
        ),
        'saveCheckpoint: "../x" is not a plain file name (letters, digits, . _ -)',
      );
      assertEquals(
        await rejection(() =>
          io.saveCheckpoint(`${dir}/ck`, { model: toy.model, files: { "model.safetensors": "" } })
        ),
        'saveCheckpoint: "model.safetensors" is written by the checkpoint',
      );
    });
    toy.dispose();
  },
);

gpuTest(
  "a version 1 checkpoint (no manifest) still loads; asking it for absent optimizer state names the directory",
  async () => {
    const toy = trainedToy(7);
    await withTempDir(async (dir) => {
      const ck = `${dir}/ck`;
      await io.saveCheckpoint(ck, { model: toy.model, step: 3 });
      const state = JSON.parse(Deno.readTextFileSync(`${ck}/trainer_state.json`));
      delete state.files;
      state.format = "fast-clara-checkpoint/1";
      Deno.writeTextFileSync(`${ck}/trainer_state.json`, JSON.stringify(state));
      const loaded = await io.loadCheckpoint(ck);
      assertEquals(loaded.step, 3);
      disposeAll(loaded.tensors);
      assertEquals(
        await rejection(() => io.loadCheckpoint(ck, { optimizer: toy.opt, names: toy.model })),
        `checkpoint ${ck} was saved without optimizer state (${ck}/trainer_state.json)`,
      );
      state.format = "fast-clara-checkpoint/2";
      Deno.writeTextFileSync(`${ck}/trainer_state.json`, JSON.stringify(state));
      assertEquals(
        await rejection(() => io.loadCheckpoint(ck)),
        `${ck}/trainer_state.json: no "files" manifest (expected in fast-clara-checkpoint/2)`,
      );
    });
    toy.dispose();
  },
);

gpuTest(
  "a checkpoint writer killed at any moment leaves a whole, verified checkpoint",
  async () => {
    const child = new URL("./checkpoint_kill_child.ts", import.meta.url).pathname;
    await withTempDir(async (dir) => {
      const ck = `${dir}/last`;
      const steps: number[] = [], left: string[] = [];
      for (const delayMs of [0, 11, 23, 41, 61, 97, 137]) {
        const proc = new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", child, ck],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = proc.stdout.getReader();
        let seen = "";
        while (!seen.includes("saved")) {
          const { value, done } = await reader.read();
          if (done) throw new Error("the checkpoint writer exited before its first save");
          seen += new TextDecoder().decode(value);
        }
        await new Promise((r) => setTimeout(r, delayMs));
        proc.kill("SIGKILL");
        await proc.status;
        reader.releaseLock();
        await proc.stdout.cancel();
        left.push(listing(dir).filter((n) => n !== "last").join("+") || "nothing");
        const loaded = await io.loadCheckpoint(ck);
        const step = loaded.step;
        assertEquals(loaded.extra, { step });
        assertEquals(Deno.readTextFileSync(`${ck}/step.txt`), `${step}\n`);
        const w = await loaded.tensors.w.data();
        assert(w.every((v) => v === step), `weights of step ${step}`);
        disposeAll(loaded.tensors);
        steps.push(step);
      }
      assert(steps.every((s) => s >= 1), `steps ${steps}`);
      const model = { w: tensor(new Float32Array(4), [4]) };
      await io.saveCheckpoint(ck, { model, step: 0 });
      model.w.dispose();
      assertEquals(listing(dir), ["last"], "a later save clears what the kills left");
      console.log(
        `killed the writer after step ${steps.join(", ")}; siblings left: ${left.join(", ")}`,
      );
    });
  },
);

Deno.test("atomic text and JSON writers replace a file whole and leave no temporary file", async () => {
  await withTempDir(async (dir) => {
    await io.writeTextFileAtomic(`${dir}/a.txt`, "é\n");
    await io.writeJsonAtomic(`${dir}/b.json`, { x: [1, 2] });
    await io.writeJsonAtomic(`${dir}/c.json`, { x: 1 }, 0);
    await io.writeJsonAtomic(`${dir}/b.json`, { y: true });
    assertEquals(Deno.readTextFileSync(`${dir}/a.txt`), "é\n");
    assertEquals(Deno.readTextFileSync(`${dir}/b.json`), '{\n  "y": true\n}\n');
    assertEquals(Deno.readTextFileSync(`${dir}/c.json`), '{"x":1}\n');
    assertEquals(listing(dir), ["a.txt", "b.json", "c.json"]);
  });
});

Deno.test("replaceDirectory swaps a directory in whole; a failed write leaves the old one", async () => {
  await withTempDir(async (dir) => {
    const target = `${dir}/d`;
    await io.replaceDirectory(target, async (s) => await Deno.writeTextFile(`${s}/one`, "1"));
    await assertRejects(
      () =>
        io.replaceDirectory(target, async (s) => {
          await Deno.writeTextFile(`${s}/two`, "2");
          throw new Error("disk full");
        }),
      Error,
    );
    assertEquals(listing(target), ["one"]);
    await io.replaceDirectory(target, async (s) => await Deno.writeTextFile(`${s}/two`, "2"));
    assertEquals(listing(dir), ["d"]);
    assertEquals(listing(target), ["two"]);
  });
});

Deno.test("safetensors bytes after the last tensor are refused, naming the file", () => {
  const bytes = io.encodeSafetensors({
    x: { dtype: "F32", shape: [2], data: new Uint8Array(8) },
  });
  const padded = Uint8Array.from([...bytes, 7, 7, 7]);
  let message = "";
  try {
    io.readSafetensorsHost(padded, "m.safetensors");
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(
    message,
    "invalid safetensors file m.safetensors: 3 bytes after the last tensor's data (the header " +
      "accounts for 8 of 11 data bytes: trailing garbage, or a damaged header)",
  );
});

gpuTest(
  "loadCheckpoint refuses optimizer state of parameters the resumed run does not train",
  async () => {
    const toy = trainedToy(7);
    await withTempDir(async (dir) => {
      const ck = `${dir}/ck`;
      await io.saveCheckpoint(ck, { model: toy.model, optimizer: toy.opt });
      // Resumed with b frozen: its moments would silently be dropped.
      const onlyW = new optim.AdamW([{ params: [toy.model.w] }], { lr: 0.01 });
      assertEquals(
        await rejection(() => io.loadCheckpoint(ck, { optimizer: onlyW, names: toy.model })),
        `${ck}/optimizer.safetensors: holds optimizer state for 1 parameter(s) this run does not ` +
          `train (b); resume with the flags the run started with`,
      );
      onlyW.dispose();
      const same = await io.loadCheckpoint(ck, { optimizer: toy.opt, names: toy.model });
      disposeAll(same.tensors);
    });
    toy.dispose();
  },
);
