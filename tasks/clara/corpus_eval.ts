/**
 * `eval:clara --setting e2e --corpus INDEX`: open retrieval over a whole compressed corpus. Per
 * question the query reasoner retrieves the top k of all the index's documents (cosine on the
 * GPU) and the generator answers from their memories; a gold document is one whose title is a
 * supporting title of the question. When the docs file index:clara read is still there, BM25 over
 * the same corpus is scored in the same run, with the e2e generator and (with a stage-2 model)
 * the stage-2 model reading BM25's top k.
 *
 * @module
 */
import { Bm25Index } from "../../datasets/bm25.ts";
import type { MultiHopExample } from "../../datasets/multihop_qa.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { CosineIndex } from "../../core/retrieval/cosine_index.ts";
import { TOPK_INDICES_MAX } from "../../kernels/topk.wgsl.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import type { ClaraE2E, Selection } from "./e2e_model.ts";
import { type E2ERunConfig, runSelection } from "./e2e_dir.ts";
import { meanRecalls, RECALL_KS } from "./e2e_eval.ts";
import { answerFromMemories } from "./answer.ts";
import { scoreByType, type SystemScores } from "./evaluate.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds } from "./tokens.ts";
import { corpusAnswers, type CorpusIndex, corpusRankings } from "./corpus.ts";
import { corpusDocText, type IndexDocument, parseIndexDocuments } from "./corpus_docs.ts";

/** What `eval:clara --setting e2e --corpus INDEX --json` prints. */
export interface E2ECorpusReport {
  file: string;
  setting: "e2e";
  corpus: { index: string; documents: number; docs: string | null };
  k: number;
  tau: number;
  /** The training selection; over a corpus the generator reads the hard top k in every mode. */
  selection: Selection;
  n: number;
  /** Share of the questions' supporting titles that are in the corpus at all. */
  gold_in_corpus: number;
  /** Recall@1/2/5 of the supporting titles among the reasoner's top documents. */
  e2e_recall: Record<string, number>;
  /** The same for BM25 over the corpus texts (null when the docs file is gone). */
  bm25_recall: Record<string, number> | null;
  e2e: SystemScores;
  e2e_generator_bm25: SystemScores | null;
  stage2_bm25: SystemScores | null;
  samples: { id: string; question: string; gold: string; e2e: string; retrieved: string[] }[];
  /** Seconds of the reasoner's retrieval (query encoding + GPU search) over all questions. */
  retrieval_seconds: number;
  seconds: number;
}

/** How the corpus evaluation runs. */
export interface CorpusEvalOptions {
  k: number;
  batchSize: number;
  maxNewTokens: number;
  stage2?: MemoryLM;
  onProgress?: (what: string) => void;
}

/** The index's documents in row order, or null (with the reason) when they cannot be read. */
async function corpusDocuments(index: CorpusIndex): Promise<IndexDocument[] | string> {
  if (!index.docsFile) return "the index names no docs file";
  let docs: IndexDocument[];
  try {
    docs = parseIndexDocuments(index.docsFile, await Deno.readTextFile(index.docsFile));
  } catch (e) {
    return (e as Error).message;
  }
  const same = docs.length === index.n && docs.every((d, i) => d.id === index.rows[i].id);
  return same ? docs : `${index.docsFile} no longer matches the index's rows`;
}

/** Evaluates `model` on `examples` with retrieval over `index` (see the module documentation). */
export async function evaluateE2ECorpus(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  run: E2ERunConfig,
  file: string,
  examples: readonly MultiHopExample[],
  index: CorpusIndex,
  o: CorpusEvalOptions,
): Promise<E2ECorpusReport> {
  const t0 = performance.now();
  const depth = Math.min(index.n, TOPK_INDICES_MAX, Math.max(o.k, ...RECALL_KS));
  const k = Math.min(o.k, depth);
  const prompts = examples.map((e) => promptIds(tokenizer, e.question));
  const gold = examples.map((e) => [...new Set(e.supportingFacts.map((f) => f.title))]);
  const asked = examples.map((_, i) => i).filter((i) => gold[i].length > 0);
  const titles = new Set(index.rows.map((r) => r.title));
  const goldCount = asked.reduce((s, i) => s + gold[i].length, 0);
  const present = asked.reduce((s, i) => s + gold[i].filter((t) => titles.has(t)).length, 0);
  const titled = (ranks: number[][]) => ranks.map((r) => r.map((row) => index.rows[row].title));
  const recalls = (ranks: number[][]) => {
    const ranked = titled(ranks);
    return asked.length ? meanRecalls(asked.map((i) => ranked[i]), asked.map((i) => gold[i])) : {};
  };

  o.onProgress?.("retrieval");
  const search = new CosineIndex(index.means, index.n, index.dim);
  const t1 = performance.now();
  let e2eRanks: number[][];
  try {
    e2eRanks = await corpusRankings(model, search, prompts, depth, o.batchSize);
  } finally {
    search.dispose();
  }
  const retrievalSeconds = (performance.now() - t1) / 1000;
  o.onProgress?.("e2e answers");
  const answerOptions = { k, batchSize: o.batchSize, maxNewTokens: o.maxNewTokens };
  const e2e = await corpusAnswers(model, tokenizer, index, prompts, e2eRanks, answerOptions);

  const docs = await corpusDocuments(index);
  let bm25: { ranks: number[][]; e2e: string[]; stage2: string[] | null } | null = null;
  if (typeof docs === "string") o.onProgress?.(`no BM25 row: ${docs}`);
  else {
    o.onProgress?.("BM25 over the corpus");
    const texts = docs.map(corpusDocText);
    const bm = new Bm25Index(texts);
    const ranks = examples.map((e) => bm.rank(e.question, depth));
    const fromBm25 = await corpusAnswers(model, tokenizer, index, prompts, ranks, answerOptions);
    let stage2: string[] | null = null;
    if (o.stage2) {
      o.onProgress?.("stage-2 + BM25 answers");
      const docTokens = run.memoryRun.memory.docTokens;
      const ids = await answerFromMemories(
        o.stage2,
        ranks.map((r, i) => ({
          docs: r.slice(0, k).map((row) => documentIds(tokenizer, texts[row], docTokens)),
          prompt: prompts[i],
        })),
        { eos: claraSpecial(tokenizer).sep, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize },
      );
      stage2 = ids.map((a) => decodeAnswer(tokenizer, a));
    }
    bm25 = { ranks, e2e: fromBm25, stage2 };
  }
  return {
    file,
    setting: "e2e",
    corpus: {
      index: index.path,
      documents: index.n,
      docs: typeof docs === "string" ? null : index.docsFile!,
    },
    k,
    tau: run.tau,
    selection: runSelection(run),
    n: examples.length,
    gold_in_corpus: goldCount ? present / goldCount : 0,
    e2e_recall: recalls(e2eRanks),
    bm25_recall: bm25 ? recalls(bm25.ranks) : null,
    e2e: scoreByType(examples, e2e),
    e2e_generator_bm25: bm25 ? scoreByType(examples, bm25.e2e) : null,
    stage2_bm25: bm25?.stage2 ? scoreByType(examples, bm25.stage2) : null,
    samples: examples.slice(0, 5).map((e, i) => ({
      id: e.id,
      question: e.question,
      gold: e.answer,
      e2e: e2e[i],
      retrieved: e2eRanks[i].slice(0, k).map((row) => index.rows[row].title),
    })),
    retrieval_seconds: retrievalSeconds,
    seconds: (performance.now() - t0) / 1000,
  };
}
