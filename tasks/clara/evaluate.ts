/**
 * eval:clara's measurement on a multi-hop QA file: per question, the documents of the setting
 * (oracle: gold + BM25 distractors; normal: BM25 top k over the example's candidates), answers
 * from their memories, from their uncompressed tokens (the text baseline: the same generator, or a
 * generator trained on the tokens, `--reader text`, when one is given), the majority answer of the question's type and the question-overlap span — all scored in one run
 * with SQuAD EM/F1, overall and per question type, plus BM25's Recall@k of the gold documents.
 *
 * @module
 */
import { withNextDocuments } from "./shuffled_control.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { commonestAnswer, exactMatch, recallAtK, tokenF1 } from "../../core/metrics/qa.ts";
import { pairedBootstrap, type PairedDifference } from "../../core/metrics/bootstrap.ts";
import type { MultiHopExample } from "../../datasets/multihop_qa.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { paragraphDoc } from "../docs/from_qa.ts";
import { answerFromMemories, answerFromText, type AnswerRequest } from "./answer.ts";
import { majorityAnswer, type MajorityAnswers, overlapSpan } from "./baselines.ts";
import { type RetrievalSetting, selectDocuments } from "./doc_selection.ts";
import type { MemoryRunConfig } from "./memory_dir.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds } from "./tokens.ts";

/** EM/F1 (in [0, 1]) over n questions. */
export interface Scores {
  em: number;
  f1: number;
  n: number;
}

/** One system's scores, overall and per question type. */
export interface SystemScores extends Scores {
  by_type: Record<string, Scores>;
  /** The commonest normalised answer and the share of questions given it (null: no questions). */
  commonest_answer: string | null;
  commonest_share: number;
}

/** What eval:clara prints with `--json`. */
export interface ClaraEvalReport extends SystemScores {
  file: string;
  setting: RetrievalSetting;
  /** Documents read per question. */
  k: number;
  /** The compression rate (null: a fixed memory-token count). */
  compression: number | null;
  /** Most memory tokens per document. */
  memory_tokens: number;
  /** Mean Recall@k of the gold documents among the documents read. */
  recall_at_k: number;
  text_baseline: SystemScores | null;
  /**
   * The directory whose generator gave `text_baseline`: a text-trained one (`--text-checkpoint`),
   * or null when it is the memory model's own generator reading tokens.
   */
  text_baseline_from: string | null;
  /** With a text-trained generator and `shuffledBaseline`: it reads the next question's tokens. */
  text_shuffled_baseline?: SystemScores;
  /**
   * With `shuffledBaseline`: the same generator reading the memories of the next question's
   * documents (question i reads question i + 1's, the last the first's): what the question alone
   * is worth to it.
   */
  shuffled_baseline?: SystemScores;
  majority_baseline: SystemScores;
  overlap_baseline: SystemScores;
  /**
   * Paired bootstrap (2000 resamples of the questions, seed 1) of the per-question F1 difference
   * between two systems of this run, keyed `A_minus_B`: the memory model against each baseline it
   * ran beside (`text`, `shuffled`, `majority`, `overlap`), and the trained text reader against its
   * own shuffled control (`text_minus_text_shuffled`). An interval above 0 says A's margin is more
   * than which questions happened to be asked.
   */
  f1_differences: Record<string, PairedDifference>;
  /** A few predictions, for a reader to see what the model says. */
  samples: { id: string; question: string; gold: string; memory: string; text?: string }[];
  seconds: number;
}

/** One question's answers from every system: what eval:clara's `--predictions` writes per line. */
export interface ClaraPrediction {
  id: string;
  type: string | null;
  question: string;
  gold: string;
  memory: string;
  text?: string;
  shuffled?: string;
  text_shuffled?: string;
  majority: string;
  overlap: string;
}

/** How eval:clara runs. */
export interface ClaraEvalOptions {
  setting: RetrievalSetting;
  k: number;
  batchSize: number;
  maxNewTokens: number;
  /** Also run the uncompressed text baseline (default true). */
  textBaseline?: boolean;
  /** Also run the shuffled-memories control (default false). */
  shuffledBaseline?: boolean;
  /**
   * A generator trained on documents' tokens (`--reader text`) and its directory: it gives the
   * text baseline in place of the memory model's generator.
   */
  textReader?: { model: MemoryLM; dir: string };
  /** Called with (done, total) after each generation batch. */
  onProgress?: (done: number, total: number) => void;
}

/** Scores of predictions against the examples' answers, overall and per `type`. */
export function scoreByType(
  examples: readonly MultiHopExample[],
  predictions: readonly string[],
): SystemScores {
  const add = (s: Scores, p: string, gold: string) => {
    s.em += exactMatch(p, gold);
    s.f1 += tokenF1(p, gold);
    s.n++;
  };
  const all: Scores = { em: 0, f1: 0, n: 0 };
  const byType: Record<string, Scores> = {};
  examples.forEach((e, i) => {
    add(all, predictions[i], e.answer);
    add(byType[e.type ?? "all"] ??= { em: 0, f1: 0, n: 0 }, predictions[i], e.answer);
  });
  const mean = (s: Scores): Scores => ({
    em: s.n ? s.em / s.n : 0,
    f1: s.n ? s.f1 / s.n : 0,
    n: s.n,
  });
  const commonest = predictions.length ? commonestAnswer(predictions) : null;
  return {
    ...mean(all),
    by_type: Object.fromEntries(Object.entries(byType).map(([k, s]) => [k, mean(s)])),
    commonest_answer: commonest?.answer ?? null,
    commonest_share: commonest?.share ?? 0,
  };
}

/** Evaluates `model` on `examples` (see the module documentation). */
export async function evaluateClara(
  model: MemoryLM,
  tokenizer: TextTokenizer,
  run: MemoryRunConfig,
  file: string,
  examples: readonly MultiHopExample[],
  majority: MajorityAnswers,
  o: ClaraEvalOptions,
): Promise<{ report: ClaraEvalReport; predictions: ClaraPrediction[] }> {
  const t0 = performance.now();
  let recall = 0;
  const chosenTexts: string[][] = [];
  const requests: AnswerRequest[] = examples.map((e) => {
    const docs = e.paragraphs.map((p) => paragraphDoc(p.title, p.sentences));
    const goldTitles = new Set(e.supportingFacts.map((f) => f.title));
    const gold = e.paragraphs.flatMap((p, i) => (goldTitles.has(p.title) ? [i] : []));
    const chosen = selectDocuments(e.question, docs, gold, o.k, o.setting);
    if (gold.length) recall += recallAtK(chosen, gold, o.k);
    chosenTexts.push(chosen.map((i) => docs[i]));
    return {
      docs: chosen.map((i) => documentIds(tokenizer, docs[i], run.memory.docTokens)),
      prompt: promptIds(tokenizer, e.question),
    };
  });
  const withText = o.textBaseline ?? true;
  const withShuffled = o.shuffledBaseline ?? false;
  const textModel = o.textReader?.model ?? model;
  const withTextShuffled = withShuffled && withText && o.textReader !== undefined;
  const runs = 1 + (withText ? 1 : 0) + (withShuffled ? 1 : 0) + (withTextShuffled ? 1 : 0);
  const total = examples.length * runs;
  const answerOptions = (offset: number) => ({
    eos: claraSpecial(tokenizer).sep,
    maxNewTokens: o.maxNewTokens,
    batchSize: o.batchSize,
    onBatch: (done: number) => o.onProgress?.(offset + done, total),
  });
  const decode = (ids: number[][]) => ids.map((a) => decodeAnswer(tokenizer, a));
  const memory = decode(await answerFromMemories(model, requests, answerOptions(0)));
  const text = withText
    ? decode(await answerFromText(textModel, requests, answerOptions(examples.length)))
    : null;
  const shuffled = withShuffled
    ? decode(
      await answerFromMemories(
        model,
        withNextDocuments(requests),
        answerOptions(examples.length * (withText ? 2 : 1)),
      ),
    )
    : null;
  const textShuffled = withTextShuffled
    ? decode(
      await answerFromText(
        textModel,
        withNextDocuments(requests),
        answerOptions(3 * examples.length),
      ),
    )
    : null;
  const withGold = examples.filter((e) => e.supportingFacts.length > 0).length;
  const majorityAnswersOf = examples.map((e) => majorityAnswer(majority, e.type));
  const overlap = examples.map((e, i) => overlapSpan(e.question, chosenTexts[i]));
  const predictions = examples.map((e, i): ClaraPrediction => ({
    id: e.id,
    type: e.type ?? null,
    question: e.question,
    gold: e.answer,
    memory: memory[i],
    ...(text ? { text: text[i] } : {}),
    ...(shuffled ? { shuffled: shuffled[i] } : {}),
    ...(textShuffled ? { text_shuffled: textShuffled[i] } : {}),
    majority: majorityAnswersOf[i],
    overlap: overlap[i],
  }));
  const report: ClaraEvalReport = {
    file,
    setting: o.setting,
    k: o.k,
    compression: run.memory.compressionRate ?? null,
    memory_tokens: run.memory.memoryTokens,
    ...scoreByType(examples, memory),
    recall_at_k: withGold ? recall / withGold : 0,
    text_baseline: text ? scoreByType(examples, text) : null,
    text_baseline_from: text && o.textReader ? o.textReader.dir : null,
    ...(textShuffled ? { text_shuffled_baseline: scoreByType(examples, textShuffled) } : {}),
    ...(shuffled ? { shuffled_baseline: scoreByType(examples, shuffled) } : {}),
    majority_baseline: scoreByType(examples, majorityAnswersOf),
    overlap_baseline: scoreByType(examples, overlap),
    f1_differences: f1Differences(examples, {
      memory,
      text,
      shuffled,
      text_shuffled: textShuffled,
      majority: majorityAnswersOf,
      overlap,
    }, [
      ["memory", "text"],
      ["memory", "shuffled"],
      ["memory", "majority"],
      ["memory", "overlap"],
      ["text", "text_shuffled"],
    ]),
    samples: predictions.slice(0, 5).map(({ id, question, gold, memory, text }) => ({
      id,
      question,
      gold,
      memory,
      ...(text !== undefined ? { text } : {}),
    })),
    seconds: (performance.now() - t0) / 1000,
  };
  return { report, predictions };
}

/**
 * For each `[A, B]` of `pairs` whose answers both exist, the paired bootstrap (2000 resamples,
 * seed 1) of the per-question F1 of A minus that of B, keyed `A_minus_B`.
 */
export function f1Differences(
  examples: readonly MultiHopExample[],
  answers: Record<string, readonly string[] | null>,
  pairs: readonly (readonly [string, string])[],
): Record<string, PairedDifference> {
  const f1 = (name: string) => answers[name]?.map((p, i) => tokenF1(p, examples[i].answer));
  const out: Record<string, PairedDifference> = {};
  for (const [a, b] of pairs) {
    const fa = f1(a), fb = f1(b);
    if (fa && fb) out[`${a}_minus_${b}`] = pairedBootstrap(fa, fb);
  }
  return out;
}
