/**
 * Fixtures of the CLaRa stage tests, written by the tests into a temp directory: a small wiki
 * text, HotpotQA-format train/dev files, and an untrained tiny base-LM directory (random
 * weights, a WordPiece vocabulary of the fixture text) in the stage-lm format.
 */
import { assert } from "./assert.ts";
import { DecoderOnly } from "../core/nn/stacks.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { LM_FORMAT, type LmRunConfig, saveLmModel } from "../tasks/clara/model_dir.ts";
import * as device from "../core/device.ts";
import type { MemoryLM } from "../core/models/memory_lm.ts";
import { memoryModelFromBase, saveMemoryModel } from "../tasks/clara/memory_dir.ts";

const FACTS = [
  ["Avon", "The Avon is a river that flows north through the old town of Marlow in 1820."],
  ["Marlow", "Marlow is a market town where farmers sell apples and cheese every Saturday."],
  ["Kestrel Mill", "Kestrel Mill was built by Thomas Hale in 1754 and still grinds wheat."],
  ["Thomas Hale", "Thomas Hale was an engineer born in Bristol who designed three bridges."],
  ["Grey Bridge", "The Grey Bridge of stone crosses the Avon near the market square of Marlow."],
  ["Bristol", "Bristol is a city in the west of England with a large harbour and a cathedral."],
];

/** A HotpotQA-format example over the fixture paragraphs. */
function example(id: string, question: string, answer: string, gold: number[], type: string) {
  return {
    _id: id,
    question,
    answer,
    supporting_facts: gold.map((g) => [FACTS[g][0], 0]),
    context: FACTS.map(([title, text]) => [title, [text]]),
    type,
    level: "easy",
  };
}

/** The QA examples of the fixture: four bridge, two comparison. */
export const QA_EXAMPLES = [
  example("b1", "Who built Kestrel Mill?", "Thomas Hale", [2], "bridge"),
  example("b2", "Where was the builder of Kestrel Mill born?", "Bristol", [2, 3], "bridge"),
  example("b3", "Which river flows through Marlow?", "Avon", [0, 1], "bridge"),
  example("b4", "When was Kestrel Mill built?", "1754", [2], "bridge"),
  example("c1", "Are Marlow and Bristol both towns?", "no", [1, 5], "comparison"),
  example("c2", "Do the Avon and the Grey Bridge both lie in Marlow?", "yes", [0, 4], "comparison"),
];

/** Paths of a written fixture. */
export interface ClaraFixture {
  dir: string;
  wiki: string;
  train: string;
  dev: string;
  /** A stage-lm base directory (untrained weights). */
  base: string;
}

/** Writes the fixture files and a tiny base LM into a new temp directory. */
export async function writeClaraFixture(): Promise<ClaraFixture> {
  const dir = await Deno.makeTempDir({ prefix: "clara-stages-" });
  const pages = FACTS.map(([title, text], i) =>
    `= ${title} =\n\n${text} ${FACTS[(i + 1) % FACTS.length][1]} ${
      FACTS[(i + 2) % FACTS.length][1]
    } It is known for the river, the market and the mill of the town.\n`
  );
  const wiki = `${dir}/wiki.txt`, train = `${dir}/train.json`, dev = `${dir}/dev.json`;
  await Deno.writeTextFile(wiki, pages.join("\n"));
  await Deno.writeTextFile(train, JSON.stringify(QA_EXAMPLES));
  await Deno.writeTextFile(dev, JSON.stringify(QA_EXAMPLES.slice(0, 4)));
  const texts = [...FACTS.map((f) => f.join(" ")), ...QA_EXAMPLES.map((e) => e.question)];
  const tokenizer = new TextTokenizer(trainWordPiece(texts, { vocabSize: 200, minFrequency: 1 }));
  const run: LmRunConfig = {
    format: LM_FORMAT,
    model: {
      vocabSize: Math.ceil(tokenizer.vocabSize / 8) * 8,
      dim: 32,
      heads: 2,
      layers: 1,
      hidden: 64,
      dropout: 0.1,
      maxLength: 64,
      positions: "rotary",
      seed: 3,
    },
    seqLen: 64,
  };
  const lm = new DecoderOnly(run.model);
  await saveLmModel(`${dir}/base`, lm, run, tokenizer);
  lm.dispose();
  return { dir, wiki, train, dev, base: `${dir}/base` };
}

/** train:clara flags of a tiny memory stage on the fixture. */
export function stageArgs(f: ClaraFixture, stage: "pretrain" | "instruct", from: string): string[] {
  return [
    "--stage",
    stage,
    "--from",
    from,
    "--text",
    f.wiki,
    "--qa",
    f.train,
    ...(stage === "pretrain" ? ["--wiki-paragraphs", "6"] : []),
    "--doc-tokens",
    "24",
    "--target-tokens",
    "12",
    "--answer-tokens",
    "4",
    "--docs-per-question",
    "3",
    "--hold-out-every",
    "3",
    "--eval-examples",
    "2",
    "--max-train-examples",
    "12",
    "--batch-size",
    stage === "pretrain" ? "4" : "1",
    "--epochs",
    "2",
    "--warmup",
    "2",
    "--lr",
    "1e-2",
    "--save-every",
    "1",
  ];
}

/** The `loss` column of a train_log.csv. */
export function loggedLosses(path: string): number[] {
  const [header, ...rows] = Deno.readTextFileSync(path).trim().split("\n");
  const c = header.split(",").indexOf("loss");
  return rows.map((r) => Number(r.split(",")[c]));
}

/**
 * Starts the stage in a child process, kills it (SIGKILL) once a few steps are logged and
 * checkpointed (polling every 50 ms, `polls` times at most), and returns; the run directory holds
 * whatever the kill left.
 */
export async function killMidRun(args: string[], polls = 1200): Promise<void> {
  const out = args[args.indexOf("--out") + 1];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../tasks/train_clara.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let killed = false;
  for (let i = 0; i < polls && !killed; i++) {
    await new Promise((r) => setTimeout(r, 50));
    let rows = 0;
    try {
      rows = Deno.readTextFileSync(`${out}/train_log.csv`).trim().split("\n").length - 1;
    } catch { /* not written yet */ }
    if (rows >= 3) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  const status = await child.status;
  assert(
    killed && status.signal === "SIGKILL",
    `the child was not killed mid-run (${status.code})`,
  );
}

/** The memory shape of {@linkcode stage2Fixture}'s model. */
export const MEMORY = { memoryTokens: 6, compressionRate: 4, rank: 4, docTokens: 24 };

/** A fixture with an untrained memory model saved as a stage-2 (instruct) directory. */
export async function stage2Fixture(): Promise<
  { f: ClaraFixture; model: MemoryLM; tokenizer: TextTokenizer; stage2: string }
> {
  const f = await writeClaraFixture();
  await device.init();
  const { model, base, tokenizer } = await memoryModelFromBase(f.base, MEMORY, 1024);
  const stage2 = `${f.dir}/instruct`;
  await saveMemoryModel(stage2, model, {
    format: "fast-clara-memory/1",
    stage: "instruct",
    base,
    memory: MEMORY,
  }, tokenizer);
  return { f, model, tokenizer, stage2 };
}

/** Runs `tasks/SCRIPT` with `args` in a child process; its exit code and output. */
export async function runTask(
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(`../tasks/${script}`, import.meta.url).pathname, ...args],
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** eval:clara's flags for the fixture: its dev file, k = 2, three new tokens, its training answers. */
export function fixtureEvalArgs(checkpoint: string, f: { dev: string; train: string }): string[] {
  return [
    "--checkpoint",
    checkpoint,
    "--file",
    f.dev,
    "--k",
    "2",
    "--max-new-tokens",
    "3",
    "--majority-from",
    f.train,
  ];
}
