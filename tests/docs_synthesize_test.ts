import assert from "node:assert/strict";
import { answerSpans } from "../tasks/docs/answer_spans.ts";
import { ChatClient, EndpointError } from "../tasks/docs/chat_client.ts";
import type { KnowledgeRecord } from "../tasks/docs/knowledge.ts";
import { synthesizeOffline } from "../tasks/docs/offline_synth.ts";
import { SYNTH_STATE_FILE } from "../tasks/docs/synthesize.ts";
import { docsSynthesize } from "../tasks/docs_synthesize.ts";
import { chatServer } from "./docs_chat_server.ts";
import { PNG_1X1 } from "./docs_fixtures.ts";

const quiet = { progress: { write: () => {} }, warn: () => {} };
const STORY =
  "Norby is a port town in the north of Varland. The harbour of Norby opened in 1871. " +
  "Ana Lind built the long pier in 1874. In 1901 the harbour handled 3,400 ships. " +
  "The town has about 4,200 inhabitants today.";

function record(id: string, text: string, extra: Partial<KnowledgeRecord> = {}): KnowledgeRecord {
  return {
    id,
    source: "story.txt",
    title: "Norby",
    section: "",
    page: null,
    lang: "en",
    text,
    images: [],
    offset: 0,
    tokens: 0,
    ...extra,
  };
}

async function knowledgeFile(dir: string, records: KnowledgeRecord[]): Promise<string> {
  const path = `${dir}/raw_knowledge.jsonl`;
  await Deno.writeTextFile(path, records.map((r) => JSON.stringify(r) + "\n").join(""));
  return path;
}

const lines = async (path: string) =>
  (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));

Deno.test("offline synthesizer: central summary, cloze QA whose answers are spans, reordering", () => {
  const s = synthesizeOffline("chunk-1", STORY);
  const sentences = STORY.split(/(?<=\.) /);
  assert.ok(
    s.summary.length > 0 && s.summary.split(/(?<=\.) /).every((x) => sentences.includes(x)),
  );
  assert.ok(s.qa.length >= 3, JSON.stringify(s.qa));
  for (const { question, answer, kind } of s.qa) {
    assert.equal(kind, "cloze");
    const blanked = question.replace(/^Fill in the blank \((a date|a number|a name)\): /, "");
    assert.notEqual(blanked, question, question);
    assert.ok(!blanked.includes(answer), `the answer leaks into "${question}"`);
    assert.ok(sentences.includes(blanked.replace("____", answer)), `${question} → ${answer}`);
  }
  const answers = s.qa.map((q) => q.answer);
  assert.ok(answers.includes("1871") && answers.includes("4,200 inhabitants"), answers.join(", "));
  assert.equal(new Set(answers).size, answers.length);
  assert.equal(s.paraphrases.length, 1);
  assert.notEqual(s.paraphrases[0], STORY);
  assert.deepEqual(s.paraphrases[0].split(/(?<=\.) /).sort(), [...sentences].sort());
  assert.deepEqual(synthesizeOffline("chunk-1", STORY), s, "deterministic");
});

Deno.test("answer spans: dates, numbers with units and names, never part of a longer token", () => {
  const spans = answerSpans(
    "On 3.4.78 the Norby Harbour Board of Trade paid $5.5 million in May 1901 for 45 % of A12.",
  );
  assert.deepEqual(spans.map((s) => [s.kind, s.text]), [
    ["name", "Norby Harbour Board of Trade"],
    ["number", "$5.5 million"],
    ["date", "May 1901"],
    ["number", "45 %"],
  ]);
  assert.deepEqual(
    answerSpans("The pier is long.").map((s) => s.text),
    [],
    "no sentence-initial The",
  );
});

Deno.test("docs:synthesize offline writes the stage formats; an image-only chunk counts as empty", async () => {
  const dir = await Deno.makeTempDir();
  const input = await knowledgeFile(dir, [
    record("a", STORY),
    record("b", "", { images: [{ ...IMAGE, path: "assets/x.png" }] }),
  ]);
  const { result } = await docsSynthesize(
    ["--in", input, "--out", `${dir}/syn`],
    () => undefined,
    quiet,
  );
  assert.equal(result.kind, "synthesize");
  if (result.kind !== "synthesize") return;
  assert.equal(result.mode, "offline");
  const s = result.summary;
  assert.deepEqual([s.chunks, s.synthesized, s.empty, s.summaries], [2, 1, 1, 1]);
  const pretrain = await lines(`${dir}/syn/pretrain.jsonl`);
  assert.deepEqual(pretrain.map((r) => Object.keys(r)), [
    ["data_type", "question", "answers", "docs"],
    ["data_type", "question", "answers", "docs"],
  ]);
  assert.deepEqual(pretrain.map((r) => r.data_type), ["qa", "paraphrase"]);
  assert.equal(pretrain[0].question.length, s.qaPairs);
  assert.deepEqual(pretrain[0].docs, [STORY]);
  const instruction = await lines(`${dir}/syn/instruction.jsonl`);
  assert.equal(instruction.length, s.qaPairs);
  assert.deepEqual(Object.keys(instruction[0]), [
    "data_type",
    "question",
    "docs",
    "answer",
    "pos_index",
  ]);
  assert.ok(instruction.every((r) => r.data_type === "instruction" && STORY.includes(r.answer)));
  const [summary] = await lines(`${dir}/syn/summaries.jsonl`);
  assert.deepEqual([summary.id, summary.source, summary.title], ["a", "story.txt", "Norby"]);
  await Deno.remove(dir, { recursive: true });
});

const IMAGE = {
  path: null,
  name: "pier.png",
  description: "A pier",
  page: null,
  index: 1,
  width: 1,
  height: 1,
};

Deno.test("docs:synthesize through a chat endpoint: 429 retried, malformed reply dropped with a warning, cross-lingual, vision", async () => {
  const server = chatServer();
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/assets`);
  await Deno.writeFile(`${dir}/assets/pier.png`, PNG_1X1);
  const input = await knowledgeFile(dir, [
    record("a", STORY),
    record("b", "RATELIMIT Ana Lind built the pier. It is long."),
    record("c", "GARBAGE This reply will not be JSON. Never."),
    record("d", "诺比是北方的一个港口城市。港口于1871年开放。", { lang: "zh" }),
    record("e", "", { images: [{ ...IMAGE, path: "assets/pier.png" }] }),
  ]);
  const env: Record<string, string> = {
    OPENAI_BASE_URL: server.url,
    OPENAI_API_KEY: "secret",
    MODEL: "tiny",
    VISION_MODEL: "eye",
  };
  const warnings: string[] = [];
  const args = ["--in", input, "--out", `${dir}/syn`, "--cross-lingual", "en", "--commit-ms", "0"];
  const run = () =>
    docsSynthesize(args, (k) => env[k], { ...quiet, warn: (l) => warnings.push(l) });
  const { result } = await run();
  assert.equal(result.kind === "synthesize" && result.mode, "endpoint");
  if (result.kind !== "synthesize") return;
  const s = result.summary;
  assert.deepEqual([s.synthesized, s.failed, s.qaPairs, s.summaries], [4, 1, 12, 4]);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /^warning: chunk c \(story\.txt\) dropped: malformed model reply: not JSON/,
  );
  assert.equal(server.prompts.filter((p) => p.includes("RATELIMIT")).length, 2, "429 then success");
  const cross = server.prompts.filter((p) => p.includes('"cross_lingual"'));
  assert.equal(cross.length, 1);
  assert.ok(cross[0].includes("港口") && cross[0].includes("written in en"));
  assert.deepEqual(server.imageRequests, ["data:image/png;base64,"]);
  const imagePrompt = server.prompts.find((p) => p.includes("[Image: A wooden pier"));
  assert.ok(imagePrompt, "the image description is what the chunk's QA is made from");
  const summaries = await lines(`${dir}/syn/summaries.jsonl`);
  assert.deepEqual(summaries.map((r) => r.id), ["a", "b", "d", "e"]);
  assert.deepEqual(summaries[3].images, [{
    path: "assets/pier.png",
    description: "A wooden pier in fog at dawn.",
  }]);
  const instruction = await lines(`${dir}/syn/instruction.jsonl`);
  assert.equal(instruction.length, 12);
  assert.deepEqual(instruction[0].docs, [STORY]);

  // Resuming retries only the dropped chunk.
  const before = server.prompts.length;
  const again = await run();
  assert.equal(again.result.kind === "synthesize" && again.result.summary.handled, 1);
  assert.equal(server.prompts.length - before, 1);
  assert.ok(server.prompts.at(-1)!.includes("GARBAGE"));
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("docs:synthesize: a wrong key (401), base URL or model (404) stops with what to fix", async () => {
  const server = chatServer();
  const dir = await Deno.makeTempDir();
  const input = await knowledgeFile(dir, [record("a", STORY), record("b", STORY + " More.")]);
  const attempt = (env: Record<string, string>, out: string) =>
    docsSynthesize(["--in", input, "--out", `${dir}/${out}`], (k) => env[k], quiet);
  const good = { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: "secret", MODEL: "tiny" };
  await assert.rejects(attempt({ ...good, OPENAI_API_KEY: "wrong" }, "k"), (e: unknown) => {
    assert.ok(e instanceof EndpointError && e.status === 401 && e.fatal);
    assert.match(
      e.message,
      /401 Unauthorized: the API key is wrong or missing; set OPENAI_API_KEY/,
    );
    assert.match(e.message, /Incorrect API key provided/);
    return true;
  });
  await assert.rejects(
    attempt({ ...good, OPENAI_BASE_URL: server.url + "/extra" }, "u"),
    /404 Not Found: either the base URL is wrong/,
  );
  await assert.rejects(
    attempt({ ...good, MODEL: "nope" }, "m"),
    /no model "nope".*model not found/,
  );
  await assert.rejects(
    attempt({ OPENAI_BASE_URL: server.url }, "n"),
    /needs a model: pass --model or set MODEL/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/k/pretrain.jsonl`), "", "nothing written");
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("chat client: gives up on persistent 5xx after its retries, rejects non-chat replies", async () => {
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    calls++;
    return new URL(req.url).pathname.startsWith("/bad")
      ? Response.json({ result: "no choices here" })
      : new Response("upstream down", { status: 503 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const waits: number[] = [];
  const client = new ChatClient({
    baseUrl: `${base}/v1`,
    maxRetries: 3,
    backoffMs: 10,
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  });
  await assert.rejects(
    client.complete([{ role: "user", content: "hi" }], { model: "m" }),
    /HTTP 503 \(the server said: upstream down\) \(gave up after 4 attempts\)/,
  );
  assert.deepEqual([calls, waits], [4, [10, 20, 40]]);
  const bad = new ChatClient({ baseUrl: `${base}/bad` });
  await assert.rejects(
    bad.complete([{ role: "user", content: "hi" }], { model: "m" }),
    (e: unknown) =>
      e instanceof EndpointError && !e.fatal && /not a chat completion/.test(e.message),
  );
  await server.shutdown();
});

Deno.test("docs:synthesize killed mid-run (SIGKILL) and resumed writes the bytes of an uninterrupted run", async () => {
  const server = chatServer(15);
  const dir = await Deno.makeTempDir();
  const records = Array.from(
    { length: 60 },
    (_, i) =>
      record(
        `r${i}`,
        `Harbour ${i} opened in ${1800 + i}. It shipped ${i * 7} crates. Ships came.`,
      ),
  );
  const input = await knowledgeFile(dir, records);
  const env = { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: "secret", MODEL: "tiny" };
  const args = (out: string) => ["--in", input, "--out", `${dir}/${out}`, "--concurrency", "3"];
  await docsSynthesize(args("whole"), (k) => env[k as keyof typeof env], quiet);

  const task = new URL("../tasks/docs_synthesize.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", task, ...args("killed"), "--commit-ms", "0"],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const committed = async () => {
    const state = await Deno.readTextFile(`${dir}/killed/${SYNTH_STATE_FILE}`).catch(() => "");
    return state ? JSON.parse(state).extra.synthesized as number : 0;
  };
  const deadline = Date.now() + 30_000;
  while ((await committed()) < 10 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGKILL");
  await child.status;
  const done = await committed();
  assert.ok(done >= 10 && done < 60, `killed after ${done} of 60 chunks`);
  const { result } = await docsSynthesize(args("killed"), (k) => env[k as keyof typeof env], quiet);
  assert.ok(result.kind === "synthesize" && result.summary.resumed >= 10);
  for (const file of ["pretrain.jsonl", "instruction.jsonl", "summaries.jsonl"]) {
    assert.deepEqual(
      await Deno.readFile(`${dir}/killed/${file}`),
      await Deno.readFile(`${dir}/whole/${file}`),
      file,
    );
  }
  await server.close();
  await Deno.remove(dir, { recursive: true });
});
