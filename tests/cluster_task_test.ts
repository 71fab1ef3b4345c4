import { assert, assertEquals, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { SHARED_DATA, sharedDataTest } from "./shared_data.ts";
import { parseClusterJsonl, readClusterInput } from "../tasks/cluster/input.ts";
import { runClustering } from "../tasks/cluster/run.ts";
import { embedTexts } from "../tasks/cluster/embedders.ts";
import { cluster } from "../tasks/cluster.ts";
import { words } from "../tasks/cluster/tfidf.ts";
import { normalizedMutualInformation } from "../core/metrics/cluster_external.ts";
import type { HierarchyNode } from "../tasks/cluster/hierarchy.ts";
import { DecoderOnly, type StackConfig } from "../core/nn/stacks.ts";
import { LM_FORMAT, saveLmModel } from "../tasks/clara/model_dir.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { FastClaraAbsa } from "../core/models/fast_clara_absa.ts";
import { saveAbsaModel } from "../tasks/absa/model_dir.ts";
import { TINY, TOPICS, topicTexts } from "./cluster_fixtures.ts";

function writeTopics(dir: string): string {
  const path = `${dir}/topics.jsonl`;
  Deno.writeTextFileSync(
    path,
    topicTexts().map((t, i) => JSON.stringify({ body: t.text, topic: t.topic, id: i })).join("\n") +
      "\n",
  );
  return path;
}

const quiet = () => {};

/** CLI arguments reading the topics file written by {@linkcode writeTopics}. */
function topicArgs(input: string, out: string): string[] {
  return [
    "--input",
    input,
    "--text-field",
    "body",
    "--label-field",
    "topic",
    "--out",
    out,
    "--projection",
    "pca",
  ];
}

/** Awaits `fn` and asserts that it rejects with a message that includes `fragment`. */
async function rejectsWith(fn: () => Promise<unknown>, fragment: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const message = (e as Error).message;
    assert(message.includes(fragment), `expected an error with "${fragment}", got "${message}"`);
    return;
  }
  throw new Error(`expected an error with "${fragment}", nothing was thrown`);
}

Deno.test("cluster input: a line that is not JSON, a missing text or label field are named by line", () => {
  const ok = '{"text": "a b", "label": "x"}';
  assertThrows(() => parseClusterJsonl("f.jsonl", `${ok}\n{oops\n`), "f.jsonl:2: not a JSON line");
  assertThrows(
    () => parseClusterJsonl("f.jsonl", `${ok}\n\n{"body": "x"}\n`),
    'f.jsonl:3: field "text" must be a non-empty string (got no such field)',
  );
  assertThrows(
    () => parseClusterJsonl("f.jsonl", `${ok}\n{"text": "y"}`, { labelField: "label" }),
    'f.jsonl:2: label field "label" must be a string or number (got no such field)',
  );
  assertThrows(() => parseClusterJsonl("f.jsonl", "[1, 2]"), "f.jsonl:1: expected a JSON object");
  assertThrows(
    () => parseClusterJsonl("f.jsonl", '{"text": "y", "task": 3}', { facetFields: ["task"] }),
    'f.jsonl:1: facet field "task" must be a string (got 3)',
  );
  assertEquals(
    parseClusterJsonl("f.jsonl", '{"t": "y", "l": 3, "topic": "z"}', {
      textField: "t",
      labelField: "l",
      facetFields: ["topic"],
    }),
    [{ text: "y", facets: { topic: "z" }, label: "3" }],
  );
});

Deno.test("cluster input: an empty file, a missing file and an unknown extension are refused", async () => {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/empty.jsonl`, "\n\n");
  await rejectsWith(
    () => readClusterInput({ path: `${dir}/empty.jsonl` }),
    "empty.jsonl: no texts to cluster",
  );
  await rejectsWith(
    () => readClusterInput({ path: `${dir}/none.jsonl` }),
    "none.jsonl: file not found",
  );
  await rejectsWith(() => readClusterInput({ path: `${dir}/a.csv` }), "cannot tell the format");
  await rejectsWith(
    () => cluster(["--input", `${dir}/empty.jsonl`, "--out", `${dir}/o`, "--method", "spectral"]),
    "empty.jsonl: no texts",
  );
  Deno.writeTextFileSync(`${dir}/one.jsonl`, '{"text": "x"}\n');
  await rejectsWith(
    () => cluster(["--input", `${dir}/one.jsonl`, "--out", `${dir}/o`, "--method", "spectral"]),
    "--method spectral: expected one of kmeans, ward, dbscan, hdbscan",
  );
});

Deno.test("cluster --search: tfidf + k-means finds the three topics, writes every output, the sweep picks k = 3", async () => {
  const dir = Deno.makeTempDirSync();
  const input = writeTopics(dir);
  const out = `${dir}/out`;
  const { report } = await cluster([...topicArgs(input, out), "--search", "--max-k", "8"]);
  assertEquals(report.params, { k: 3 });
  assertEquals(report.scores.nmi, 1);
  assertEquals(report.scores.ari, 1);
  assert(report.scores.silhouette > 0.2, `silhouette ${report.scores.silhouette}`);
  assert(report.localCoherence.inside > report.localCoherence.outside);
  const sweep = Deno.readTextFileSync(`${out}/sweep.csv`).trim().split("\n");
  assertEquals(sweep.length, 1 + 6); // header + k = 2, 3, 4, 5, 6, 8
  const nodes = JSON.parse(Deno.readTextFileSync(`${out}/hierarchy.json`)) as HierarchyNode[];
  const clusters = nodes.filter((n) => n.level === 0);
  assertEquals(clusters.length, 3);
  for (const c of clusters) {
    const topic = Object.keys(TOPICS).find((t) => TOPICS[t].includes(c.label.terms[0]));
    assert(topic, `cluster ${c.id} terms ${c.label.terms}`);
    assert(c.label.terms.every((w) => TOPICS[topic].includes(w)), `${c.label.terms}`);
    assert(words(c.label.central).some((w) => TOPICS[topic].includes(w)));
  }
  const root = nodes.find((n) => n.id === "root")!;
  assertEquals([root.size, root.parent, root.children.length], [30, null, 3]);
  const lines = Deno.readTextFileSync(`${out}/assignments.jsonl`).trim().split("\n");
  assertEquals(lines.length, 30);
  const svg = Deno.readTextFileSync(`${out}/map.svg`);
  assertEquals(svg.match(/<circle /g)?.length, 30);
  const html = Deno.readTextFileSync(`${out}/map.html`);
  assert(
    html.includes("<svg") && html.includes("<details open>"),
    "map.html holds the map and tree",
  );
  assert(!/(src|href)="https?:/.test(html), "map.html loads nothing from the network");
  const metrics = JSON.parse(Deno.readTextFileSync(`${out}/metrics.json`));
  assertEquals(metrics.scores.nmi, 1);
  assertEquals([...Deno.readDirSync(out)].filter((e) => e.name.includes(".tmp-")).length, 0);
});

Deno.test("cluster: Ward writes SciPy's linkage; DBSCAN and HDBSCAN find the topics; facets replace the text", async () => {
  const dir = Deno.makeTempDirSync();
  const input = writeTopics(dir);
  const texts = topicTexts();
  const base = {
    texts: await readClusterInput({ path: input, textField: "body", labelField: "topic" }),
    source: input,
    embedder: "tfidf" as const,
    projection: "pca" as const,
    log: quiet,
  };
  const ward = await runClustering({
    ...base,
    method: "ward",
    params: { k: 3 },
    out: `${dir}/ward`,
  });
  assertEquals(ward.scores.nmi, 1);
  const linkage = JSON.parse(Deno.readTextFileSync(`${dir}/ward/linkage.json`)) as number[][];
  assertEquals(linkage.length, 29);
  assertEquals(linkage.at(-1)![3], 30);
  assert(linkage.every((r, i) => i === 0 || r[2] >= linkage[i - 1][2]), "heights ascend");
  const hd = await runClustering({
    ...base,
    method: "hdbscan",
    params: { minClusterSize: 5 },
    out: `${dir}/hd`,
  });
  assertEquals([hd.scores.clusters, hd.scores.nmi], [3, 1]);
  const db = await runClustering({
    ...base,
    method: "dbscan",
    params: {},
    search: true,
    select: "nmi",
    out: `${dir}/db`,
  });
  assertEquals(db.scores.nmi, 1);
  // 2 eps × 5 quantiles; one setting recovers all three topics with no noise at all.
  const rows = Deno.readTextFileSync(`${dir}/db/sweep.csv`).trim().split("\n").slice(1).map((l) =>
    l.split(",")
  );
  assertEquals(rows.length, 10);
  assert(
    rows.some((r) => r[4] === "3" && r[5] === "0" && r[9] === "1"),
    "a 3-cluster, no-noise row",
  );
  // A facet that is the topic name itself: three identical strings per topic.
  const faceted = base.texts.map((t, i) => ({
    ...t,
    facets: { topic: `${texts[i].topic} topic words` },
  }));
  const f = await runClustering({
    ...base,
    texts: faceted,
    facets: ["topic"],
    method: "kmeans",
    params: { k: 3 },
    out: `${dir}/f`,
  });
  assertEquals(f.scores.nmi, 1);
  await rejectsWith(
    () =>
      runClustering({
        ...base,
        facets: ["task"],
        method: "kmeans",
        params: { k: 3 },
        out: `${dir}/g`,
      }),
    'text 1: no facet "task"',
  );
});

Deno.test("glove embedder: the mean word vector of a tiny vector file separates two topics", async () => {
  const dir = Deno.makeTempDirSync();
  // Four 3-d vectors in the wink layout: food words along x, sport words along y.
  const vectors: Record<string, number[]> = {
    pizza: [1, 0.1, 0],
    pasta: [0.9, 0, 0.1],
    goal: [0, 1, 0.1],
    referee: [0.1, 0.9, 0],
  };
  const words = Object.keys(vectors);
  Deno.writeTextFileSync(
    `${dir}/vectors.json`,
    JSON.stringify({
      precision: 8,
      l2NormIndex: 3,
      wordIndex: 4,
      size: words.length,
      dimensions: 3,
      words,
      vectors: Object.fromEntries(
        words.map((w, i) => [w, [...vectors[w], Math.hypot(...vectors[w]), i]]),
      ),
      unkVector: [0, 0, 0],
    }),
  );
  const inputs = [
    "pizza pasta",
    "pasta today",
    "pizza",
    "goal referee",
    "referee",
    "goal again",
    "unknown",
  ];
  const e = await embedTexts("glove", inputs, { gloveSource: `${dir}/vectors.json` });
  assertEquals(e.empty, 1);
  assertEquals(e.points.dim, 3);
  const cos = (i: number, j: number) =>
    [0, 1, 2].reduce((s, d) => s + e.points.data[3 * i + d] * e.points.data[3 * j + d], 0);
  assert(
    cos(0, 2) > 0.95 && cos(3, 4) > 0.95 && cos(0, 3) < 0.3,
    `${cos(0, 2)} ${cos(3, 4)} ${cos(0, 3)}`,
  );
});

gpuTest(
  "lm embedder: mean last-layer states do not depend on the batch (padding), labels decode through the head",
  async () => {
    const dir = Deno.makeTempDirSync();
    const texts = topicTexts();
    const tokenizer = new TextTokenizer(
      trainWordPiece(texts.map((t) => t.text), { vocabSize: 120 }),
    );
    const config: StackConfig = {
      ...TINY,
      vocabSize: tokenizer.vocabSize,
      maxLength: 12,
      positions: "rotary",
      seed: 3,
    };
    const model = new DecoderOnly(config);
    await saveLmModel(
      `${dir}/lm`,
      model,
      { format: LM_FORMAT, model: config, seqLen: 12 },
      tokenizer,
    );
    model.dispose();
    const inputs = [
      "pizza",
      "today football goal referee striker stadium league match keeper people said",
      ...texts.map((t) => t.text),
    ];
    const batched = await embedTexts("lm", inputs, {
      lmDir: `${dir}/lm`,
      batchLimits: { maxRows: 8 },
    });
    const alone = await embedTexts("lm", inputs.slice(0, 2), {
      lmDir: `${dir}/lm`,
      batchLimits: { maxRows: 1 },
    });
    // Same weights, rows padded to other widths: causal attention never sees the padding, so only
    // f32 rounding differs.
    for (let i = 0; i < 2 * 16; i++) {
      assert(Math.abs(batched.points.data[i] - alone.points.data[i]) < 1e-5, `element ${i}`);
    }
    const norm = Math.hypot(...batched.points.data.subarray(0, 16));
    assert(Math.abs(norm - 1) < 1e-5, `row norm ${norm}`);
    const cut = inputs.filter((t) => tokenizer.encode(t, false).length > 12).length;
    assert(
      cut >= 1 && tokenizer.encode(inputs[0], false).length <= 12,
      `${cut} texts longer than 12`,
    );
    assert(batched.note.includes(`${cut} texts cut to 12 tokens`), batched.note);
    batched.decoder!.dispose();
    alone.decoder!.dispose();
    const report = await runClustering({
      texts: texts.map((t) => ({ text: t.text, label: t.topic, facets: {} })),
      source: "topics",
      embedder: "lm",
      lmDir: `${dir}/lm`,
      method: "kmeans",
      params: { k: 3 },
      projection: "pca",
      out: `${dir}/out`,
      log: quiet,
    });
    assertEquals(report.scores.clusters, 3);
    const nodes = JSON.parse(Deno.readTextFileSync(`${dir}/out/hierarchy.json`)) as HierarchyNode[];
    for (const n of nodes.filter((n) => n.level === 0)) {
      assertEquals(n.label.decoded?.split(", ").length, 5, `${n.id}: ${n.label.decoded}`);
    }
    // The untrained model's clusters need not match the topics; NMI is a number in [0, 1].
    assert(report.scores.nmi! >= 0 && report.scores.nmi! <= 1);
    assertEquals(
      normalizedMutualInformation(texts.map((t) => t.topic), texts.map((t) => t.topic)),
      1,
    );
  },
);

/** A local chat endpoint: a facet prompt gets the text's topic, a label prompt a name from its samples. */
function topicServer(): { url: string; requests: string[]; close: () => Promise<void> } {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    const prompt: string = body.messages.at(-1).content;
    requests.push(prompt);
    const topic = Object.keys(TOPICS).find((t) => TOPICS[t].some((w) => prompt.includes(w)));
    const content = prompt.includes("NOTJSON")
      ? "I would rather not."
      : prompt.startsWith("These texts")
      ? JSON.stringify({ name: `all about ${topic}`, description: "x" })
      : JSON.stringify({ topic: `${topic} things` });
    return Response.json({ choices: [{ message: { content } }] });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1`,
    requests,
    close: () => server.shutdown(),
  };
}

Deno.test("cluster with an endpoint: facets extracted per text are embedded; clusters get the LLM's names", async () => {
  const server = topicServer();
  try {
    const dir = Deno.makeTempDirSync();
    const input = writeTopics(dir);
    const { report } = await cluster([
      ...topicArgs(input, `${dir}/out`),
      ...["--k", "3", "--endpoint", server.url, "--model", "m"],
      ...["--extract-facets", "topic", "--facets", "topic"],
    ]);
    assertEquals(report.scores.nmi, 1);
    const facetPrompts = server.requests.filter((r) =>
      r.includes('"topic": What is the text about')
    );
    assertEquals(facetPrompts.length, 30);
    const nodes = JSON.parse(Deno.readTextFileSync(`${dir}/out/hierarchy.json`)) as HierarchyNode[];
    const names = nodes.filter((n) => n.level === 0).map((n) => n.label.llm).sort();
    assertEquals(names, ["all about food", "all about space", "all about sport"]);
    assert(Deno.readTextFileSync(`${dir}/out/map.svg`).includes(">all about food</text>"));
    Deno.writeTextFileSync(`${dir}/bad.jsonl`, '{"text": "pizza NOTJSON"}\n{"text": "goal"}\n');
    await rejectsWith(
      () =>
        cluster([
          "--input",
          `${dir}/bad.jsonl`,
          "--out",
          `${dir}/bad`,
          "--endpoint",
          server.url,
          "--model",
          "m",
          "--extract-facets",
          "topic",
        ]),
      `text 1: the endpoint's reply is not a JSON object: "I would rather not."`,
    );
    await rejectsWith(
      () =>
        cluster([
          "--input",
          input,
          "--text-field",
          "body",
          "--out",
          `${dir}/o2`,
          "--offline",
          "--extract-facets",
          "topic",
        ]),
      "--extract-facets needs an endpoint",
    );
  } finally {
    await server.close();
  }
});

gpuTest(
  "absa embedder: mean memory does not depend on the batch; the mean memory of copies decodes like the one",
  async () => {
    const dir = Deno.makeTempDirSync();
    const texts = topicTexts().map((t) => t.text);
    const tokenizer = new TextTokenizer(trainWordPiece(texts, { vocabSize: 150, memoryTokens: 4 }));
    const config = {
      ...TINY,
      vocabSize: tokenizer.vocabSize,
      maxLength: 40,
      memoryTokens: 4,
      labels: 3,
      seed: 5,
    };
    const model = new FastClaraAbsa(config);
    await saveAbsaModel(`${dir}/absa`, model, {
      model: config,
      task: "acsa",
      maxTokens: 20,
      adapters: [],
    }, tokenizer);
    model.dispose();
    const inputs = ["pizza", ...texts.slice(0, 9)];
    const batched = await embedTexts("absa", inputs, {
      absaDir: `${dir}/absa`,
      batchLimits: { maxRows: 10 },
    });
    const alone = await embedTexts("absa", inputs.slice(0, 1), {
      absaDir: `${dir}/absa`,
      batchLimits: { maxRows: 1 },
    });
    // Bidirectional encoder with key padding: the padded row equals the row alone up to f32 rounding.
    for (let d = 0; d < 16; d++) {
      assert(Math.abs(batched.points.data[d] - alone.points.data[d]) < 1e-5, `element ${d}`);
    }
    assert(batched.note.includes("mean of the 4 memory states"), batched.note);
    const [one, copies, other] = await batched.decoder!.decode([[1], [1, 1, 1], [2]]);
    assertEquals(one, copies);
    assertEquals(typeof other, "string");
    batched.decoder!.dispose();
    alone.decoder!.dispose();
  },
);

sharedDataTest(
  "cluster input reads MAMS-ACSA val by first category and 2Wiki dev questions by type",
  ["mams/acsa/val.xml", "2wiki/dev_sample.json"],
  async () => {
    const mams = await readClusterInput({ path: `${SHARED_DATA}mams/acsa/val.xml` });
    assertEquals(mams.length, 400);
    const counts = (texts: { label?: string }[]) =>
      Object.fromEntries(
        [...new Set(texts.map((t) => t.label!))].sort().map((l) => [
          l,
          texts.filter((t) => t.label === l).length,
        ]),
      );
    assertEquals(counts(mams), {
      ambience: 14,
      food: 135,
      menu: 17,
      miscellaneous: 53,
      place: 35,
      price: 16,
      service: 35,
      staff: 95,
    });
    const wiki = await readClusterInput({ path: `${SHARED_DATA}2wiki/dev_sample.json` });
    assertEquals(counts(wiki), {
      bridge_comparison: 130,
      comparison: 104,
      compositional: 202,
      inference: 64,
    });
    assert(wiki.every((t) => t.text.trim().endsWith("?")), "the texts are the questions");
  },
);
