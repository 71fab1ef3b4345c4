/**
 * The clustering pipeline: texts → (facets) → embeddings → clusters (one setting or a sweep) →
 * scores → labels → hierarchy → 2-D map, every output written atomically into one directory.
 *
 * @module
 */
import { writeJsonAtomic, writeTextFileAtomic } from "../../core/io/atomic.ts";
import { csvLines } from "../../core/io/csv.ts";
import { Progress } from "../../core/io/progress.ts";
import { type LocalCoherence, localCoherence } from "../../core/metrics/cluster_internal.ts";
import { pca, umap2d } from "../../core/cluster/projection.ts";
import { type ClusterText, embeddingInputs } from "./input.ts";
import { type EmbedderName, type EmbedOptions, embedTexts } from "./embedders.ts";
import { tfidf } from "./tfidf.ts";
import {
  Clusterer,
  type MethodName,
  type MethodParams,
  scoreLabels,
  type Scores,
  selectionValue,
  type SelectMetric,
} from "./methods.ts";
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
  const clusterer = new Clusterer(embedding.points, o.seed ?? 0);
  let params: MethodParams;
  let labels: Int32Array;
  if (o.search) {
    const select = o.select ?? "silhouette";
    const rows = await timed("search", () => {
      const candidates = clusterer.candidates(o.method, o.maxK ?? 100);
      if (candidates.length === 0) {
        throw new Error(`--search: no ${o.method} settings fit ${texts.length} texts`);
      }
      const progress = new Progress(candidates.length, { label: `search ${o.method}` });
      const scored = candidates.map((p, i) => {
        const l = clusterer.run(o.method, p);
        const scores = scoreLabels(embedding.points, l, truth);
        if (i + 1 < candidates.length) {
          progress.update(
            i + 1,
            `${JSON.stringify(p)} ${select} ${
              selectionValue(scores, select, texts.length).toFixed(3)
            }`,
          );
        }
        return {
          params: p,
          labels: l,
          scores,
          value: selectionValue(scores, select, texts.length),
        };
      });
      progress.finish();
      return scored;
    });
    const valid = rows.filter((r) => Number.isFinite(r.value));
    if (valid.length === 0) {
      throw new Error(`--search: no ${o.method} setting gave 2 or more clusters`);
    }
    const best = valid.reduce((a, b) => (b.value > a.value ? b : a));
    params = best.params;
    labels = best.labels;
    await writeTextFileAtomic(
      `${o.out}/sweep.csv`,
      csvLines([
        [
          "k",
          "eps",
          "min_samples",
          "min_cluster_size",
          "clusters",
          "noise",
          "silhouette",
          "davies_bouldin",
          "calinski_harabasz",
          "nmi",
          "ari",
          "purity",
          "selection_value",
          "chosen",
        ],
        ...rows.map((r) => [
          r.params.k,
          r.params.eps,
          r.params.minSamples,
          r.params.minClusterSize,
          r.scores.clusters,
          r.scores.noise,
          r.scores.silhouette,
          r.scores.daviesBouldin,
          r.scores.calinskiHarabasz,
          r.scores.nmi,
          r.scores.ari,
          r.scores.purity,
          r.value,
          r === best,
        ]),
      ]),
    );
  } else {
    params = { ...clusterer.defaults(o.method, o.k ?? 10), ...o.params };
    labels = await timed("cluster", () => clusterer.run(o.method, params));
  }
  const [scores, coherence] = await timed("score", () =>
    [
      scoreLabels(embedding.points, labels, truth),
      localCoherence(embedding.points, labels),
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
  embedding.lm?.model.dispose();
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
