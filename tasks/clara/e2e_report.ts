/**
 * `eval:clara --setting e2e`: on a multi-hop QA file, per question, the e2e query reasoner ranks
 * the example's candidates against their frozen memories, and BM25 ranks them over their text;
 * one report holds Recall@1/2/5 of the gold documents for both (and for the ranking by the
 * generator's likelihood of the gold answer, what the answer loss rewards), EM/F1 of the e2e
 * generator reading the reasoner's top k, the same generator reading BM25's top k, and (with a
 * stage-2 directory) the stage-2 model reading BM25's top k — all from one run.
 *
 * @module
 */
import { bm25Rank } from "../../datasets/bm25.ts";
import type { MultiHopExample } from "../../datasets/multihop_qa.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { paragraphDoc } from "../docs/from_qa.ts";
import type { ClaraE2E, Selection } from "./e2e_model.ts";
import { type E2ERunConfig, runSelection } from "./e2e_dir.ts";
import type { E2EExample } from "./e2e_data.ts";
import { cachedHostMemories } from "./memory_cache.ts";
import {
  answersFromRanked,
  likelihoodRankings,
  meanRecalls,
  reasonerRankings,
} from "./e2e_eval.ts";
import { answerFromMemories } from "./answer.ts";
import { f1Differences, scoreByType, type SystemScores } from "./evaluate.ts";
import type { PairedDifference } from "../../core/metrics/bootstrap.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds, targetIds } from "./tokens.ts";

/** What `eval:clara --setting e2e --json` prints. */
export interface E2EEvalReport {
  file: string;
  setting: "e2e";
  k: number;
  tau: number;
  /** The training selection (config.json), which the `e2e` row's generator reads by. */
  selection: Selection;
  /** Questions (all answered; Recall@k over the `with_gold` ones). */
  n: number;
  with_gold: number;
  /** Recall@1/2/5 of the query reasoner. */
  e2e_recall: Record<string, number>;
  /** Recall@1/2/5 of BM25 over the same candidates. */
  bm25_recall: Record<string, number>;
  /**
   * Recall@1/2/5 of the candidates ranked by the e2e generator's likelihood of the gold answer
   * reading each candidate alone: the ranking the answer loss rewards (an oracle that reads the
   * answer, not a retriever).
   */
  likelihood_recall: Record<string, number>;
  /** The e2e generator reading the reasoner's top k (`soft`: the softmax mixture of k slots). */
  e2e: SystemScores;
  /** The same generator reading BM25's top k. */
  e2e_generator_bm25: SystemScores;
  /** The stage-2 model reading BM25's top k (with a stage-2 directory). */
  stage2_bm25: SystemScores | null;
  /**
   * Paired bootstrap of the per-question F1 of the e2e row minus each BM25 row
   * (`e2e_minus_e2e_generator_bm25`, `e2e_minus_stage2_bm25`), as in eval:clara's other settings.
   */
  f1_differences: Record<string, PairedDifference>;
  samples: { id: string; question: string; gold: string; e2e: string; bm25: string }[];
  seconds: number;
}

/** How the e2e evaluation runs. */
export interface E2EEvalOptions {
  k: number;
  batchSize: number;
  maxNewTokens: number;
  /** The stage-2 model (compressor + generator) for the stage-2 + BM25 row. */
  stage2?: MemoryLM;
  /** A directory caching the candidates' memories across runs (see memory_cache.ts). */
  memoryCache?: string;
  onProgress?: (what: string) => void;
}

/** Evaluates `model` on `examples` (see the module documentation). */
export async function evaluateE2E(
  model: ClaraE2E,
  tokenizer: TextTokenizer,
  run: E2ERunConfig,
  file: string,
  examples: readonly MultiHopExample[],
  o: E2EEvalOptions,
): Promise<E2EEvalReport> {
  const t0 = performance.now();
  const docTokens = run.memoryRun.memory.docTokens;
  const texts = examples.map((e) => e.paragraphs.map((p) => paragraphDoc(p.title, p.sentences)));
  const items: E2EExample[] = examples.map((e, i) => {
    const goldTitles = new Set(e.supportingFacts.map((f) => f.title));
    return {
      question: e.question,
      answer: e.answer,
      candidates: texts[i].map((d) => documentIds(tokenizer, d, docTokens)),
      gold: e.paragraphs.flatMap((p, j) => (goldTitles.has(p.title) ? [j] : [])),
      prompt: promptIds(tokenizer, e.question),
      target: targetIds(tokenizer, e.answer, o.maxNewTokens),
    };
  });
  o.onProgress?.("memories");
  const memories = await cachedHostMemories(
    model.lm,
    items,
    docTokens,
    o.memoryCache,
    o.onProgress,
  );
  o.onProgress?.("retrieval");
  const e2eRanks = await reasonerRankings(model, items, memories, o.batchSize);
  const bm25Ranks = examples.map((e, i) => bm25Rank(e.question, texts[i]));
  o.onProgress?.("answer likelihood per candidate");
  const pad = claraSpecial(tokenizer).pad;
  const likelihoodRanks = await likelihoodRankings(model.lm, items, memories, pad, o.batchSize);
  const gold = items.map((e, i) => (e.gold.length ? i : -1)).filter((i) => i >= 0);
  const recalls = (ranks: number[][]) =>
    gold.length ? meanRecalls(gold.map((i) => ranks[i]), gold.map((i) => items[i].gold)) : {};
  o.onProgress?.("e2e answers");
  const selection = runSelection(run);
  const e2e = await answersFromRanked(model, tokenizer, items, memories, e2eRanks, {
    ...o,
    tau: run.tau,
    selection,
  });
  o.onProgress?.("e2e generator + BM25 answers");
  const bm25 = await answersFromRanked(model, tokenizer, items, memories, bm25Ranks, o);
  let stage2: string[] | null = null;
  if (o.stage2) {
    o.onProgress?.("stage-2 + BM25 answers");
    const ids = await answerFromMemories(
      o.stage2,
      items.map((e, i) => ({
        docs: bm25Ranks[i].slice(0, o.k).map((c) => e.candidates[c]),
        prompt: e.prompt,
      })),
      { eos: claraSpecial(tokenizer).sep, maxNewTokens: o.maxNewTokens, batchSize: o.batchSize },
    );
    stage2 = ids.map((a) => decodeAnswer(tokenizer, a));
  }
  return {
    file,
    setting: "e2e",
    k: o.k,
    tau: run.tau,
    selection,
    n: examples.length,
    with_gold: gold.length,
    e2e_recall: recalls(e2eRanks),
    bm25_recall: recalls(bm25Ranks),
    likelihood_recall: recalls(likelihoodRanks),
    e2e: scoreByType(examples, e2e),
    e2e_generator_bm25: scoreByType(examples, bm25),
    stage2_bm25: stage2 ? scoreByType(examples, stage2) : null,
    f1_differences: f1Differences(
      examples,
      { e2e, e2e_generator_bm25: bm25, stage2_bm25: stage2 },
      [
        ["e2e", "e2e_generator_bm25"],
        ["e2e", "stage2_bm25"],
      ],
    ),
    samples: examples.slice(0, 5).map((e, i) => ({
      id: e.id,
      question: e.question,
      gold: e.answer,
      e2e: e2e[i],
      bm25: bm25[i],
    })),
    seconds: (performance.now() - t0) / 1000,
  };
}
