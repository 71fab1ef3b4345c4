/**
 * The README's clustering table: every embedder × method on the three labelled sets (50 Wikipedia
 * pages' chunks, MAMS-ACSA val sentences, 2Wiki dev questions), one run each.
 * `deno run --allow-all bench/cluster_table.ts --kb KB.jsonl --data DIR --lm DIR [--absa DIR]
 * [--clara DIR] [--embedders a,b] --out DIR`
 * (KB: `docs:ingest` of `text/wikipedia_pages_2019_sample.txt`). k-means and Ward use k = the
 * number of reference labels; DBSCAN and HDBSCAN sweep their parameters and pick by silhouette
 * (no labels used). Writes OUT/table.json and prints the markdown table.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../core/io/atomic.ts";
import { type ClusterText, readClusterInput } from "../tasks/cluster/input.ts";
import { EMBEDDERS } from "../tasks/cluster/embedders.ts";
import { METHODS } from "../tasks/cluster/methods.ts";
import { type ClusterReport, runClustering } from "../tasks/cluster/run.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    kb: { type: "string" },
    data: { type: "string", default: "../shared/data" },
    lm: { type: "string", default: "runs/clara-lm/best" },
    absa: { type: "string" },
    clara: { type: "string" },
    embedders: { type: "string", default: EMBEDDERS.join(",") },
    out: { type: "string", default: "runs/cluster-table" },
  },
  strict: true,
});
if (!values.kb) {
  throw new Error("--kb: the raw_knowledge.jsonl of the Wikipedia sample is required");
}

const sets: [string, ClusterText[]][] = [
  [
    "wiki-50-pages",
    await readClusterInput({ path: values.kb, labelField: "title", firstLabels: 50 }),
  ],
  ["mams-acsa-val", await readClusterInput({ path: `${values.data}/mams/acsa/val.xml` })],
  ["2wiki-dev", await readClusterInput({ path: `${values.data}/2wiki/dev_sample.json` })],
];
const rows: {
  set: string;
  embedder: string;
  method: string;
  report?: ClusterReport;
  error?: string;
}[] = [];
for (const [set, texts] of sets) {
  const k = new Set(texts.map((t) => t.label)).size;
  // The absa and clara embedders need a trained model; without --absa/--clara they are left out.
  const chosen = values.embedders.split(",").filter((e) =>
    (e !== "absa" || values.absa) && (e !== "clara" || values.clara)
  );
  for (const embedder of EMBEDDERS.filter((e) => chosen.includes(e))) {
    for (const method of METHODS) {
      const search = method === "dbscan" || method === "hdbscan";
      const started = performance.now();
      try {
        const report = await runClustering({
          texts,
          source: set,
          embedder,
          method,
          params: search ? {} : { k },
          search,
          select: "silhouette",
          projection: "pca",
          lmDir: values.lm,
          absaDir: values.absa,
          claraDir: values.clara,
          gloveCache: `${values.out}/${set}_glove.safetensors`,
          out: `${values.out}/${set}/${embedder}-${method}`,
          log: () => {},
        });
        rows.push({ set, embedder, method, report });
      } catch (e) {
        rows.push({ set, embedder, method, error: (e as Error).message });
      }
      const r = rows.at(-1)!;
      console.error(
        `${set} ${embedder} ${method}: ${r.report ? JSON.stringify(r.report.scores) : r.error} (${
          ((performance.now() - started) / 1000).toFixed(1)
        } s)`,
      );
    }
  }
}
await writeJsonAtomic(`${values.out}/table-${values.embedders.replaceAll(",", "-")}.json`, rows);
const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "—" : x.toFixed(3));
console.log("| set | embedder | method | clusters (noise) | NMI | ARI | silhouette |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const s = r.report?.scores;
  console.log(
    s
      ? `| ${r.set} | ${r.embedder} | ${r.method} | ${s.clusters} (${s.noise}) | ${f(s.nmi)} | ${
        f(s.ari)
      } | ${f(s.silhouette)} |`
      : `| ${r.set} | ${r.embedder} | ${r.method} | failed: ${r.error} | | | |`,
  );
}
