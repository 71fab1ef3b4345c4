import { assert, assertEquals } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { killMidRun, loggedLosses, stageArgs, writeClaraFixture } from "./clara_fixtures.ts";
import { loadSafetensors } from "../core/io/safetensors.ts";
import type { Tensor } from "../core/tensor.ts";
import {
  COMPRESSOR_PARAMETERS,
  type MemoryStageResult,
  parseMemoryStageArgs,
  runMemoryStage,
} from "../tasks/clara/memory_stages.ts";
import { loadMemoryModel, memoryModelFromBase } from "../tasks/clara/memory_dir.ts";

const quiet = () => {};

async function weights(path: string): Promise<Record<string, Float32Array>> {
  const { tensors } = await loadSafetensors(path);
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(tensors)) {
    out[k] = await (t as Tensor).data() as Float32Array;
    t.dispose();
  }
  return out;
}

/** How many of `from`'s parameters matching `re` differ in `to`. */
function moved(
  from: Record<string, Float32Array>,
  to: Record<string, Float32Array>,
  re: RegExp,
): number {
  return Object.keys(from).filter((k) => re.test(k) && !same(from[k], to[k])).length;
}

/** Runs a memory stage with `args` into `out`, quietly. */
function runStage(args: string[], out: string): Promise<MemoryStageResult> {
  return runMemoryStage(parseMemoryStageArgs([...args, "--out", out]), quiet);
}

/** A base LM's parameter name as the memory model built on it names it. */
const memoryName = (k: string) => k.startsWith("stack.") ? `backbone.${k.slice(6)}` : k;

function same(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Runs the stage uninterrupted into `out`, then again into `out-killed` killed mid-run and
 * resumed, and checks that the resumed run logs the same losses and ends with the same metrics.
 */
async function killedRunMatches(args: string[], out: string): Promise<MemoryStageResult> {
  const full = await runStage(args, out);
  await killMidRun([...args, "--out", `${out}-killed`]);
  const killedSteps = loggedLosses(`${out}-killed/train_log.csv`).length;
  assert(killedSteps < full.steps, `the kill came after the run ended (${killedSteps} steps)`);
  const resumed = await runMemoryStage(
    parseMemoryStageArgs([...args, "--out", `${out}-killed`, "--resume"]),
    quiet,
  );
  assertEquals(resumed.steps, full.steps);
  assertEquals(loggedLosses(`${out}-killed/train_log.csv`), loggedLosses(`${out}/train_log.csv`));
  assertEquals(resumed.metrics, full.metrics);
  return full;
}

gpuTest(
  "train:clara --stage pretrain and --stage instruct: resume after a kill gives the uninterrupted losses; base weights stay frozen, instruct keeps the compressor",
  async () => {
    const f = await writeClaraFixture();
    // Pretrain, uninterrupted, then killed in a child process and resumed.
    const pre = stageArgs(f, "pretrain", f.base);
    const full = await killedRunMatches(pre, `${f.dir}/pre`);
    assert(full.steps >= 6, `only ${full.steps} steps`);
    assertEquals(Object.keys(full.metrics).sort(), [
      "qa_em",
      "qa_f1",
      "recon_accuracy",
      "recon_accuracy_shuffled",
    ]);
    assert(Object.values(full.metrics).every((v) => v >= 0 && v <= 1), "metrics are shares");

    // Pretrain: the base is untouched; both adapters and the memory embeddings moved.
    const fresh = await memoryModelFromBase(
      f.base,
      { memoryTokens: 6, compressionRate: 4, rank: 8, docTokens: 24 },
      1024,
    );
    const start: Record<string, Float32Array> = {};
    for (const [k, t] of fresh.model.namedParameters()) start[k] = await t.data() as Float32Array;
    fresh.model.dispose();
    const afterPre = await weights(`${f.dir}/pre/best/model.safetensors`);
    const base = await weights(`${f.base}/model.safetensors`);
    for (const [k, v] of Object.entries(base)) {
      assert(same(afterPre[memoryName(k)], v), `base weight ${k} changed in pretrain`);
    }
    assert(moved(start, afterPre, /\.lora_compressor\./) > 0, "compressor LoRA did not train");
    assert(moved(start, afterPre, /\.lora_generator\./) > 0, "generator LoRA did not train");
    assert(moved(start, afterPre, /^memory_embeddings\./) > 0, "memory embeddings did not train");

    // Instruct from the pretrain model, uninterrupted and killed + resumed.
    const ins = await killedRunMatches(
      stageArgs(f, "instruct", `${f.dir}/pre/best`),
      `${f.dir}/ins`,
    );
    assertEquals(Object.keys(ins.metrics).sort(), ["em", "f1", "f1_shuffled"]);
    // Instruct: base and compressor (adapter + memory embeddings) frozen, the generator and its
    // new prompt-copy head trained; the output loads as a copy model with every weight present.
    const afterIns = await weights(`${f.dir}/ins/best/model.safetensors`);
    for (const k of Object.keys(afterPre)) {
      if (/\.lora_generator\./.test(k)) continue;
      assert(same(afterPre[k], afterIns[k]), `${k} changed in instruct`);
    }
    assert(Object.keys(afterPre).some((k) => COMPRESSOR_PARAMETERS.test(k)));
    assert(moved(afterPre, afterIns, /\.lora_generator\./) > 0, "generator LoRA did not train");
    assert(!Object.keys(afterPre).some((k) => k.startsWith("pointer.")), "pretrain has no copy");
    const copyAtStart = await loadMemoryModel(`${f.dir}/pre/best`, {
      addPromptCopy: true,
      copyFollow: true,
    });
    const headStart: Record<string, Float32Array> = {};
    for (const [k, t] of copyAtStart.model.namedParameters()) {
      if (k.startsWith("pointer.")) headStart[k] = await t.data() as Float32Array;
    }
    copyAtStart.model.dispose();
    assertEquals(
      Object.keys(headStart).length,
      7,
      "query, key and switch weights and biases, and the follow bonus",
    );
    assert(moved(headStart, afterIns, /^pointer\./) > 0, "the copy head did not train");
    const loaded = await loadMemoryModel(`${f.dir}/ins/best`);
    assertEquals([loaded.run.memory.promptCopy, loaded.run.memory.copyFollow], [true, true]);
    assert(loaded.model.pointer !== null, "the instruct output has its copy head");
    loaded.model.dispose();
  },
);

gpuTest(
  "train:clara --stage pretrain --train-base: every base weight trains, the config says so, instruct freezes it again",
  async () => {
    const f = await writeClaraFixture();
    const out = `${f.dir}/pre-base`;
    const args = [...stageArgs(f, "pretrain", f.base), "--train-base", "--max-steps", "3"];
    await runStage(args, out);
    const base = await weights(`${f.base}/model.safetensors`);
    const after = await weights(`${out}/best/model.safetensors`);
    const unchanged = Object.keys(base).filter((k) => same(after[memoryName(k)], base[k]));
    assertEquals(unchanged, [], "base weights that did not train");
    const loaded = await loadMemoryModel(`${out}/best`);
    assertEquals(loaded.run.baseTrained, true);
    loaded.model.dispose();
    // Instruct on it trains the generator only: the trained base is frozen like any base.
    const ins = `${f.dir}/ins-base`;
    await runStage([...stageArgs(f, "instruct", `${out}/best`), "--max-steps", "2"], ins);
    const afterIns = await weights(`${ins}/best/model.safetensors`);
    for (const k of Object.keys(base)) {
      assert(
        same(afterIns[memoryName(k)], after[memoryName(k)]),
        `base weight ${k} changed in instruct`,
      );
    }
    const insLoaded = await loadMemoryModel(`${ins}/best`);
    assertEquals(insLoaded.run.baseTrained, true);
    insLoaded.model.dispose();
  },
);

gpuTest(
  "train:clara --stage instruct --unfreeze-compressor: the compressor and memory vectors train, the base stays frozen",
  async () => {
    const f = await writeClaraFixture();
    const pre = `${f.dir}/pre-unfreeze`;
    await runStage([...stageArgs(f, "pretrain", f.base), "--max-steps", "2"], pre);
    const ins = `${f.dir}/ins-unfreeze`;
    const unfreeze = ["--unfreeze-compressor", "--max-steps", "3"];
    await runStage([...stageArgs(f, "instruct", `${pre}/best`), ...unfreeze], ins);
    const before = await weights(`${pre}/best/model.safetensors`);
    const after = await weights(`${ins}/best/model.safetensors`);
    const base = await weights(`${f.base}/model.safetensors`);
    for (const k of Object.keys(base)) {
      assert(same(after[memoryName(k)], base[k]), `base weight ${k} changed in instruct`);
    }
    assert(moved(before, after, /\.lora_compressor\./) > 0, "compressor LoRA did not train");
    assert(moved(before, after, /^memory_embeddings\./) > 0, "memory embeddings did not train");
    assert(moved(before, after, /\.lora_generator\./) > 0, "generator LoRA did not train");
  },
);

Deno.test("train:clara memory-stage flags: defaults, exclusions and errors name the flag", () => {
  const o = parseMemoryStageArgs(["--stage", "pretrain"]);
  assertEquals([o.from, o.out, o.compression, o.memoryTokens], [
    "runs/clara-lm/best",
    "runs/clara-pretrain",
    4,
    undefined,
  ]);
  const i = parseMemoryStageArgs(["--stage", "instruct"]);
  assertEquals([i.from, i.out, i.unfreezeCompressor, i.copy], [
    "runs/clara-pretrain/best",
    "runs/clara-instruct",
    false,
    true,
  ]);
  assertEquals(i.copyFollow, true);
  const plain = parseMemoryStageArgs(["--stage", "instruct", "--copy", "0"]);
  assertEquals([plain.copy, plain.copyFollow], [false, false]);
  const tokens = parseMemoryStageArgs(["--stage", "instruct", "--copy-follow", "0"]);
  assertEquals([tokens.copy, tokens.copyFollow], [true, false]);
  assertEquals([o.copy, o.copyFollow], [false, false]);
  assertEquals(o.memoryLayout, "appended");
  assertEquals(
    parseMemoryStageArgs(["--stage", "pretrain", "--memory-layout", "chunked"]).memoryLayout,
    "chunked",
  );
  assertEquals(
    parseMemoryStageArgs(["--stage", "pretrain", "--memory-tokens", "3"]).compression,
    undefined,
  );
  const fails = (args: string[], text: string) => {
    let message = "";
    try {
      parseMemoryStageArgs(args);
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes(text), `${args.join(" ")}: "${message}" lacks "${text}"`);
  };
  fails(["--stage", "pretrain", "--compression", "512"], "--compression");
  fails(["--stage", "pretrain", "--compression", "4", "--memory-tokens", "2"], "exclude");
  fails(["--stage", "instruct", "--compression", "16"], "pretrain checkpoint");
  fails(["--stage", "instruct", "--pretrain", "x.jsonl"], "--pretrain FILE");
  fails(["--stage", "pretrain", "--batch-size", "two"], "--batch-size");
  fails(["--stage", "pretrain", "--copy", "1"], "--copy is a flag of --stage instruct");
  fails(["--stage", "instruct", "--copy", "yes"], "--copy: expected 1 or 0");
  fails(["--stage", "pretrain", "--copy-follow", "1"], "--copy-follow is a flag of --stage");
  fails(["--stage", "instruct", "--copy", "0", "--copy-follow", "1"], "needs the copy head");
  fails(["--stage", "instruct", "--memory-layout", "chunked"], "fixed by the pretrain checkpoint");
  fails(["--stage", "instruct", "--train-base"], "--train-base is a flag of --stage pretrain");
  assertEquals(parseMemoryStageArgs(["--stage", "pretrain", "--train-base"]).trainBase, true);
  assertEquals(parseMemoryStageArgs(["--stage", "pretrain"]).trainBase, false);
  fails(["--stage", "pretrain", "--memory-layout", "pooled"], "--memory-layout: expected");
  assertEquals(i.reader, "memory");
  assertEquals(parseMemoryStageArgs(["--stage", "instruct", "--reader", "text"]).reader, "text");
  fails(["--stage", "instruct", "--reader", "tokens"], "--reader: expected memory or text");
  fails(["--stage", "pretrain", "--reader", "text"], "--reader is a flag of --stage instruct");
  fails(
    ["--stage", "instruct", "--reader", "text", "--unfreeze-compressor"],
    "reads no memories",
  );
  assertEquals(i.docOrder, "bm25");
  assertEquals(
    parseMemoryStageArgs(["--stage", "instruct", "--doc-order", "file"]).docOrder,
    "file",
  );
  fails(["--stage", "instruct", "--doc-order", "random"], "--doc-order: expected bm25 or file");
  fails(
    ["--stage", "pretrain", "--doc-order", "file"],
    "--doc-order is a flag of --stage instruct",
  );
});
