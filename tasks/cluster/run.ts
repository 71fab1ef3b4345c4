/**
 * The clustering pipeline: texts → (facets) → embeddings → clusters (one setting or a sweep) →
 * scores → labels → hierarchy → 2-D map, every output written atomically into one directory.
 *
 * @module
 */
import { writeJsonAtomic, writeTextFileAtomic } from "../../core/io/atomic.ts";
import { Progress } from "../../core/io/progress.ts";
import { type LocalCoherence, localCoherence } from "../../core/metrics/cluster_internal.ts";
import { pca, umap2d } from "../../core/cluster/projection.ts";
import type { Points } from "../../core/cluster/points.ts";
import { type ClusterText, embeddingInputs } from "./input.ts";
import { type EmbedderName, type EmbedOptions, embedTexts } from "./embedders.ts";
import { tfidf } from "./tfidf.ts";
import {
  Clusterer,
  type MethodName,
  type MethodParams,
  scoreLabels,
  type Scores,
  type SelectMetric,
} from "./methods.ts";
import { runSweep, sweepCsv } from "./sweep.ts";
import { gpuAssigner } from "../../core/cluster/gpu_assign.ts";
import * as webgpu from "../../core/device.ts";
import { labelGroups } from "./labels.ts";
import { extractFacets, type LlmEndpoint, llmNames } from "./llm.ts";
import { groupClusters, type HierarchyNode, hierarchyNodes } from "./hierarchy.ts";
import { mapHtml, mapSvg, nodeName } from "./map.ts";

/** Options of {@linkcode runClustering}. */
export interface ClusterRunOptions extends EmbedOptions {
  texts: ClusterText[];
  /** Where the input came from (for the report). */
  source: string;
  embedder: EmbedderName;
  method: MethodName;
  /** Fixed parameters (a missing one takes its default). */
  params: MethodParams;
  /** Default k when `params.k` is absent (default 10). */
  k?: number;
  /** Sweep and pick by `select`. */
  search?: boolean;
  select?: SelectMetric;
  /** Largest k of a sweep (default 100). */
  maxK?: number;
  /** Facets to embed instead of the text (`text` is the text itself). */
  facets?: string[];
  projection?: "umap" | "pca";
  /** An OpenAI-compatible endpoint: LLM cluster names, and facet extraction when asked. */
  llm?: LlmEndpoint;
  /**
   * Where k-means' assignment product runs: "auto" (default) takes the GPU when n·k·dim ≥ 10⁷,
   * where it pays (see core/cluster/kmeans.ts), and WebGPU starts; else the CPU.
   */
  kmeansDevice?: "auto" | "cpu" | "gpu";
  /** Facets to extract through `llm` before embedding (request, task, topic, language). */
  extractFacets?: string[];
  out: string;
  /** Progress and stage lines (default: stderr). */
  log?: (line: string) => void;
}

/** What a run reports (also written as `metrics.json`). */
export interface ClusterReport {
  source: string;
  texts: number;
  embedder: EmbedderName;
  embedderNote: string;
  emptyEmbeddings: number;
  method: MethodName;
  params: MethodParams;
  selectedBy: SelectMetric | null;
  scores: Scores;
  localCoherence: LocalCoherence;
  /** Seconds per stage. */
  seconds: Record<string, number>;
}

/** Runs the pipeline and writes OUT; returns the report. */
export async function runClustering(o: ClusterRunOptions): Promise<ClusterReport> {
  const log = o.log ?? ((line: string) => console.error(line));
  const seconds: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    log(`cluster: ${stage}…`);
    const result = await fn();
    seconds[stage] = Number(((performance.now() - start) / 1000).toFixed(2));
    return result;
  };
  await Deno.mkdir(o.out, { recursive: true });
  const texts = o.texts.map((t) => t.text);
  const truth = o.texts.every((t) => t.label !== undefined)
    ? o.texts.map((t) => t.label!)
    : undefined;
  if ((o.extractFacets ?? []).length > 0) {
    if (!o.llm) throw new Error("--extract-facets needs an endpoint (--endpoint URL --model NAME)");
    await timed("facets", () => extractFacets(o.llm!, o.texts, o.extractFacets!));
  }
  const inputs = embeddingInputs(o.texts, o.facets ?? []);
  const matrix = await timed("tfidf", () => tfidf(texts));
  const embedding = await timed("embed", () =>
    embedTexts(o.embedder, inputs, {
      ...o,
      tfidfMatrix: (o.facets ?? []).length === 0 ? matrix : undefined,
    }));
  const p = embedding.points;
  const work = p.n * p.dim * (o.search ? o.maxK ?? 100 : o.params.k ?? o.k ?? 10);
  const device = o.kmeansDevice ?? "auto";
  const gpu = o.method === "kmeans" && (device === "gpu" || (device === "auto" && work >= 1e7))
    ? await gpuAssignerIfAny(p, device === "gpu")
    : undefined;
  const clusterer = new Clusterer(embedding.points, o.seed ?? 0, gpu?.assign);
  let params: MethodParams;
  let labels: Int32Array;
  try {
    if (o.search) {
      const { rows, best } = await timed(
        "search",
        () => runSweep(clusterer, o.method, truth, o.select ?? "silhouette", o.maxK ?? 100),
      );
      params = best.params;
      labels = best.labels;
      await writeTextFileAtomic(`${o.out}/sweep.csv`, sweepCsv(rows, best));
    } else {
      params = { ...clusterer.defaults(o.method, o.k ?? 10), ...o.params };
      labels = await timed("cluster", () => clusterer.run(o.method, params));
    }
  } finally {
    gpu?.dispose();
  }
  const [scores, coherence] = await timed("score", () =>
    [
      scoreLabels(embedding.points, labels, truth),
      localCoherence(embedding.points, labels, 10, 1000),
    ] as const);
  if (scores.clusters === 0) {
    throw new Error(`${o.method} ${JSON.stringify(params)}: every text is noise`);
  }
  const members: number[][] = Array.from({ length: scores.clusters }, () => []);
  labels.forEach((l, i) => l >= 0 && members[l].push(i));
  const nodes = await timed("label", async () => {
    const shape = groupClusters(embedding.points, labels, scores.clusters);
    const unlabelled = hierarchyNodes(members, shape);
    const groups = unlabelled.map((u) => u.texts);
    const named = await labelGroups(groups, texts, embedding, matrix);
    if (o.llm) (await llmNames(o.llm, groups, texts)).forEach((name, i) => named[i].llm = name);
    return unlabelled.map((u, i): HierarchyNode => ({ ...u.node, label: named[i] }));
  });
  const xy = await timed("project", () => {
    if (o.projection === "pca" || embedding.points.n < 4) return pca(embedding.points);
    let progress: Progress | undefined;
    const xy = umap2d(embedding.points, {
      seed: o.seed ?? 0,
      onEpoch: (e, total) => {
        progress ??= new Progress(total, { label: "umap epochs" });
        if (e < total) progress.update(e);
      },
    });
    progress?.finish();
    return xy;
  });
  embedding.decoder?.dispose();
  const report: ClusterReport = {
    source: o.source,
    texts: texts.length,
    embedder: o.embedder,
    embedderNote: embedding.note,
    emptyEmbeddings: embedding.empty,
    method: o.method,
    params,
    selectedBy: o.search ? o.select ?? "silhouette" : null,
    scores,
    localCoherence: coherence,
    seconds,
  };
  await writeOutputs(o, report, labels, nodes, xy, clusterer, texts);
  return report;
}

/** A GPU assigner for `points`; when WebGPU cannot start, undefined (with a note) or, `required`, the error. */
async function gpuAssignerIfAny(
  points: Points,
  required: boolean,
): Promise<ReturnType<typeof gpuAssigner> | undefined> {
  try {
    await webgpu.init();
  } catch (e) {
    if (required) throw e;
    console.error(`cluster: k-means on the CPU (${(e as Error).message.split("\n")[0]})`);
    return undefined;
  }
  return gpuAssigner(points);
}

async function writeOutputs(
  o: ClusterRunOptions,
  report: ClusterReport,
  labels: Int32Array,
  nodes: HierarchyNode[],
  xy: Float64Array,
  clusterer: Clusterer,
  texts: string[],
): Promise<void> {
  await writeTextFileAtomic(
    `${o.out}/assignments.jsonl`,
    o.texts.map((t, i) =>
      JSON.stringify({
        index: i,
        cluster: labels[i],
        label: t.label ?? null,
        x: Number(xy[2 * i].toFixed(4)),
        y: Number(xy[2 * i + 1].toFixed(4)),
        text: t.text,
      }) + "\n"
    ).join(""),
  );
  await writeJsonAtomic(`${o.out}/hierarchy.json`, nodes);
  if (o.method === "ward") await writeJsonAtomic(`${o.out}/linkage.json`, clusterer.linkage, 0);
  const clusterNames = nodes.filter((n) => n.level === 0).map(nodeName);
  const map = {
    xy,
    labels,
    texts,
    clusterNames,
    title:
      `${o.source}: ${o.embedder} + ${o.method} (${report.scores.clusters} clusters, ${texts.length} texts)`,
  };
  await writeTextFileAtomic(`${o.out}/map.svg`, mapSvg(map));
  const summary: Record<string, unknown> = {
    params: JSON.stringify(report.params),
    ...report.scores,
    "local coherence inside": report.localCoherence.inside,
    "local coherence outside": report.localCoherence.outside,
    embedder: report.embedderNote,
  };
  await writeTextFileAtomic(`${o.out}/map.html`, mapHtml(map, nodes, summary));
  await writeJsonAtomic(`${o.out}/metrics.json`, report);
}
