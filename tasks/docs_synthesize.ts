/**
 * `deno task docs:synthesize --in OUT/raw_knowledge.jsonl --out DIR [--endpoint URL --model NAME]`:
 * turns chunks into CLaRa training data (`pretrain.jsonl`, `instruction.jsonl`,
 * `summaries.jsonl`) through an OpenAI-compatible endpoint when one is configured (flags or
 * `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `MODEL`, `VISION_MODEL`), with the offline extractive
 * synthesizer otherwise; resumable like docs:ingest. `--from-qa FILE …` converts HotpotQA, 2Wiki
 * or MuSiQue files into the same formats instead.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { ProgressOptions } from "../core/io/progress.ts";
import { writeFileAtomic } from "../core/io/safetensors.ts";
import { readMultiHopJson } from "../datasets/multihop_qa.ts";
import { ChatClient } from "./docs/chat_client.ts";
import { positiveInt } from "./docs/flags.ts";
import { convertMultiHop } from "./docs/from_qa.ts";
import { synthesizeWithEndpoint } from "./docs/llm_synth.ts";
import { synthesizeOffline } from "./docs/offline_synth.ts";
import {
  INSTRUCTION_FILE,
  PRETRAIN_FILE,
  runSynthesize,
  SYNTH_STATE_FILE,
  type Synthesizer,
  type SynthesizeSummary,
} from "./docs/synthesize.ts";

const USAGE = "usage: deno task docs:synthesize --in raw_knowledge.jsonl --out DIR " +
  "[--endpoint URL --model NAME [--api-key KEY] [--vision-model NAME] [--cross-lingual LANG] " +
  "[--concurrency N (4)] [--timeout-s S (120)] [--retries N (5)] [--no-json-mode]] [--offline] " +
  "[--resume | --fresh] [--commit-ms MS (1000)] [--json]\n" +
  "       deno task docs:synthesize --from-qa FILE [--from-qa FILE …] --out DIR [--json]";

/** The outcome of one invocation. */
export type DocsSynthesizeResult =
  | { kind: "synthesize"; mode: string; summary: SynthesizeSummary }
  | { kind: "from-qa"; files: string[]; pretrain: number; instruction: number };

/** Where warnings and progress go (default: stderr). */
export interface DocsSynthesizeIo {
  warn?: (line: string) => void;
  progress?: ProgressOptions;
}

/** Runs the command on `args` with environment lookup `env`; `json` is the --json flag. */
export async function docsSynthesize(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  io: DocsSynthesizeIo = {},
): Promise<{ result: DocsSynthesizeResult; json: boolean }> {
  const { values } = parseArgs({
    args,
    options: {
      in: { type: "string" },
      out: { type: "string" },
      "from-qa": { type: "string", multiple: true },
      endpoint: { type: "string" },
      model: { type: "string" },
      "api-key": { type: "string" },
      "vision-model": { type: "string" },
      "cross-lingual": { type: "string" },
      concurrency: { type: "string", default: "4" },
      "timeout-s": { type: "string", default: "120" },
      retries: { type: "string", default: "5" },
      "no-json-mode": { type: "boolean", default: false },
      offline: { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
      "commit-ms": { type: "string", default: "1000" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.out) throw new Error(`--out is required\n${USAGE}`);
  if (values["from-qa"]?.length) {
    if (values.in) throw new Error("--from-qa and --in exclude each other");
    return { result: await fromQa(values["from-qa"], values.out), json: values.json };
  }
  if (!values.in) {
    throw new Error(`--in (a raw_knowledge.jsonl) or --from-qa is required\n${USAGE}`);
  }
  if (values.resume && values.fresh) throw new Error("--resume and --fresh exclude each other");
  const endpoint = values.offline ? undefined : values.endpoint ?? env("OPENAI_BASE_URL");
  let synthesizer: Synthesizer;
  let settings: Record<string, unknown>;
  let concurrency = 1;
  if (endpoint) {
    const model = values.model ?? env("MODEL");
    if (!model) throw new Error(`endpoint ${endpoint} needs a model: pass --model or set MODEL`);
    const client = new ChatClient({
      baseUrl: endpoint,
      apiKey: values["api-key"] ?? env("OPENAI_API_KEY"),
      timeoutMs: positiveInt("--timeout-s", values["timeout-s"]) * 1000,
      maxRetries: positiveInt("--retries", values.retries, 0),
    });
    const visionModel = values["vision-model"] ?? env("VISION_MODEL");
    const assetsDir = values.in.includes("/")
      ? values.in.slice(0, values.in.lastIndexOf("/"))
      : ".";
    synthesizer = (record) =>
      synthesizeWithEndpoint(record, {
        client,
        model,
        visionModel,
        crossLingual: values["cross-lingual"],
        jsonMode: !values["no-json-mode"],
        assetsDir,
      });
    settings = {
      mode: "endpoint",
      model,
      visionModel: visionModel ?? null,
      crossLingual: values["cross-lingual"] ?? null,
    };
    concurrency = positiveInt("--concurrency", values.concurrency);
  } else {
    synthesizer = (record) =>
      Promise.resolve(
        record.text.trim() === "" ? undefined : synthesizeOffline(record.id, record.text),
      );
    settings = { mode: "offline" };
  }
  const summary = await runSynthesize({
    input: values.in,
    outDir: values.out,
    synthesizer,
    settings,
    concurrency,
    fresh: values.fresh,
    warn: io.warn,
    progress: io.progress,
    commitIntervalMs: positiveInt("--commit-ms", values["commit-ms"], 0),
  });
  return {
    result: { kind: "synthesize", mode: settings.mode as string, summary },
    json: values.json,
  };
}

async function fromQa(files: string[], outDir: string): Promise<DocsSynthesizeResult> {
  const existing = await Deno.stat(`${outDir}/${SYNTH_STATE_FILE}`).catch(() => undefined);
  if (existing) {
    throw new Error(`${outDir} holds docs:synthesize output; write --from-qa to another --out`);
  }
  const pretrain: string[] = [];
  const instruction: string[] = [];
  for (const file of files) {
    const converted = convertMultiHop(await readMultiHopJson(file));
    pretrain.push(...converted.pretrain.map((r) => JSON.stringify(r) + "\n"));
    instruction.push(...converted.instruction.map((r) => JSON.stringify(r) + "\n"));
  }
  await Deno.mkdir(outDir, { recursive: true });
  const encoder = new TextEncoder();
  await writeFileAtomic(`${outDir}/${PRETRAIN_FILE}`, encoder.encode(pretrain.join("")));
  await writeFileAtomic(`${outDir}/${INSTRUCTION_FILE}`, encoder.encode(instruction.join("")));
  return { kind: "from-qa", files, pretrain: pretrain.length, instruction: instruction.length };
}

function describe(r: DocsSynthesizeResult): string {
  if (r.kind === "from-qa") {
    return `docs:synthesize --from-qa: ${r.files.length} file(s) → ${r.pretrain} pretrain and ` +
      `${r.instruction} instruction records`;
  }
  const s = r.summary;
  return `docs:synthesize (${r.mode}): ${s.chunks} chunks (${s.handled} handled now, ` +
    `${s.resumed} already done, ${s.failed} failed, ${s.empty} without text), ` +
    `${s.qaPairs} QA pairs, ${s.paraphrases} paraphrases, ${s.summaries} summaries; ` +
    `${s.pretrainRecords} pretrain and ${s.instructionRecords} instruction records ` +
    `in ${s.seconds.toFixed(1)} s`;
}

if (import.meta.main) {
  try {
    const { result, json } = await docsSynthesize(Deno.args);
    console.log(json ? JSON.stringify(result) : describe(result));
  } catch (e) {
    console.error(`docs:synthesize: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
