/**
 * `deno task cluster --input FILE --embedder tfidf|glove|lm|absa|clara
 * --method kmeans|ward|dbscan|hdbscan --out DIR [...]`: clusters a collection of texts into a labelled topic hierarchy with scores and
 * a map (see tasks/cluster/run.ts for the stages and README "Clustering" for the outputs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { positiveInt } from "./docs/flags.ts";
import { type InputFormat, readClusterInput } from "./cluster/input.ts";
import { type EmbedderName, EMBEDDERS } from "./cluster/embedders.ts";
import { DEFAULT_BATCH_LIMITS } from "./cluster/length_batches.ts";
import { type MethodName, METHODS, SELECT_METRICS, type SelectMetric } from "./cluster/methods.ts";
import { type ClusterReport, runClustering } from "./cluster/run.ts";
import { ChatClient } from "./docs/chat_client.ts";
import type { LlmEndpoint } from "./cluster/llm.ts";

const USAGE = "usage: deno task cluster --input FILE (.jsonl | MAMS .xml | QA .json) --out DIR\n" +
  "  [--format jsonl|absa-xml|qa-json] [--text-field F (text)] [--label-field F] [--facet-field F]…\n" +
  "  [--facets a,b (embed these facets; 'text' is the text)] [--first-labels N] [--limit N]\n" +
  `  [--embedder ${EMBEDDERS.join("|")} (tfidf)] [--lm DIR (runs/clara-lm/best)] [--glove FILE]\n` +
  "  [--absa DIR (runs/absa-acsa/best)] [--clara DIR (runs/clara-pretrain/best)]\n" +
  "  [--batch-size N (512)] [--batch-tokens N (4096)] (lm/absa/clara: rows, padded tokens per GPU batch)\n" +
  `  [--method ${METHODS.join("|")} (kmeans)] [--k N (10)] [--eps X] [--min-samples N]\n` +
  "  [--min-cluster-size N] [--search] [--select " + SELECT_METRICS.join("|") + " (silhouette)]\n" +
  "  [--max-k N (100)] [--projection umap|pca (umap)] [--seed N (0)] [--json]\n" +
  "  [--kmeans-device auto|cpu|gpu (auto: the GPU for n·k·dim ≥ 1e7)]\n" +
  "  [--endpoint URL --model NAME [--api-key KEY] (or OPENAI_BASE_URL, MODEL, OPENAI_API_KEY)]\n" +
  "  [--extract-facets request,task,topic,language] [--offline (ignore the environment)]";

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${flag} ${value}: expected one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (!(x > 0)) throw new Error(`${flag} expects a number > 0, got ${JSON.stringify(value)}`);
  return x;
}

function list(value: string | undefined): string[] {
  return value ? value.split(",").map((f) => f.trim()).filter(Boolean) : [];
}

/** The endpoint from the flags, else the environment (none with --offline or when unset). */
function endpointOf(
  v: { endpoint?: string; model?: string; "api-key"?: string; offline: boolean },
): LlmEndpoint | undefined {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const baseUrl = v.offline ? undefined : v.endpoint ?? env("OPENAI_BASE_URL");
  if (!baseUrl) return undefined;
  const model = v.model ?? env("MODEL");
  if (!model) throw new Error(`endpoint ${baseUrl} needs a model: pass --model or set MODEL`);
  return {
    client: new ChatClient({ baseUrl, apiKey: v["api-key"] ?? env("OPENAI_API_KEY") }),
    model,
  };
}

/** Parses `args` and runs; returns the report and whether JSON was asked for. */
export async function cluster(args: string[]): Promise<{ report: ClusterReport; json: boolean }> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean", default: false }, // answered before parsing (see below)
      json: { type: "boolean", default: false },
      endpoint: { type: "string" },
      model: { type: "string" },
      "api-key": { type: "string" },
      "extract-facets": { type: "string" },
      offline: { type: "boolean", default: false },
      input: { type: "string" },
      out: { type: "string" },
      format: { type: "string" },
      "text-field": { type: "string", default: "text" },
      "label-field": { type: "string" },
      "facet-field": { type: "string", multiple: true, default: [] },
      facets: { type: "string" },
      "first-labels": { type: "string" },
      limit: { type: "string" },
      embedder: { type: "string", default: "tfidf" },
      lm: { type: "string", default: "runs/clara-lm/best" },
      absa: { type: "string", default: "runs/absa-acsa/best" },
      glove: { type: "string" },
      clara: { type: "string", default: "runs/clara-pretrain/best" },
      "batch-size": { type: "string", default: String(DEFAULT_BATCH_LIMITS.maxRows) },
      "batch-tokens": { type: "string", default: String(DEFAULT_BATCH_LIMITS.maxTokens) },
      method: { type: "string", default: "kmeans" },
      k: { type: "string" },
      eps: { type: "string" },
      "min-samples": { type: "string" },
      "min-cluster-size": { type: "string" },
      search: { type: "boolean", default: false },
      select: { type: "string", default: "silhouette" },
      "max-k": { type: "string", default: "100" },
      projection: { type: "string", default: "umap" },
      seed: { type: "string", default: "0" },
      "kmeans-device": { type: "string", default: "auto" },
    },
    strict: true,
  });
  if (!values.input || !values.out) throw new Error(`--input and --out are required\n${USAGE}`);
  const texts = await readClusterInput({
    path: values.input,
    format: values.format as InputFormat | undefined,
    textField: values["text-field"],
    labelField: values["label-field"],
    facetFields: values["facet-field"],
    firstLabels: values["first-labels"] === undefined
      ? undefined
      : positiveInt("--first-labels", values["first-labels"]),
    limit: values.limit === undefined ? undefined : positiveInt("--limit", values.limit),
  });
  const opt = (flag: string, v: string | undefined) =>
    v === undefined ? undefined : positiveInt(flag, v);
  const report = await runClustering({
    texts,
    source: values.input,
    embedder: oneOf<EmbedderName>("--embedder", values.embedder, EMBEDDERS),
    method: oneOf<MethodName>("--method", values.method, METHODS),
    params: Object.fromEntries(
      Object.entries({
        k: opt("--k", values.k),
        eps: positiveNumber("--eps", values.eps),
        minSamples: opt("--min-samples", values["min-samples"]),
        minClusterSize: opt("--min-cluster-size", values["min-cluster-size"]),
      }).filter(([, v]) => v !== undefined),
    ),
    search: values.search,
    select: oneOf<SelectMetric>("--select", values.select, SELECT_METRICS),
    maxK: positiveInt("--max-k", values["max-k"], 2),
    facets: list(values.facets),
    projection: oneOf("--projection", values.projection, ["umap", "pca"] as const),
    lmDir: values.lm,
    absaDir: values.absa,
    claraDir: values.clara,
    batchLimits: {
      maxRows: positiveInt("--batch-size", values["batch-size"]),
      maxTokens: positiveInt("--batch-tokens", values["batch-tokens"]),
    },
    gloveSource: values.glove,
    gloveCache: `${values.out}/glove_rows.safetensors`,
    seed: positiveInt("--seed", values.seed, 0),
    kmeansDevice: oneOf(
      "--kmeans-device",
      values["kmeans-device"],
      ["auto", "cpu", "gpu"] as const,
    ),
    llm: endpointOf(values),
    extractFacets: list(values["extract-facets"]),
    out: values.out,
  });
  return { report, json: values.json };
}

function describe(r: ClusterReport): string {
  const s = r.scores;
  const f = (x: number | undefined) => x === undefined ? "—" : x.toFixed(3);
  const time = Object.entries(r.seconds).map(([k, v]) => `${k} ${v}s`).join(", ");
  return `cluster: ${r.texts} texts, ${r.embedder} + ${r.method} ${JSON.stringify(r.params)}: ` +
    `${s.clusters} clusters, ${s.noise} noise; silhouette ${f(s.silhouette)}, DB ${
      f(s.daviesBouldin)
    }, ` +
    `CH ${f(s.calinskiHarabasz)}; NMI ${f(s.nmi)}, ARI ${f(s.ari)}, purity ${f(s.purity)}; ` +
    `local coherence ${f(r.localCoherence.inside)} vs ${f(r.localCoherence.outside)}; ${time}`;
}

if (import.meta.main) {
  if (Deno.args.includes("--help")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  try {
    const { report, json } = await cluster(Deno.args);
    console.log(json ? JSON.stringify(report) : describe(report));
  } catch (e) {
    console.error(`cluster: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
