/**
 * Multi-hop QA examples tokenized for the latent model and its baseline from one tokenization:
 * the context is every candidate sentence as `"{title}: {sentence}"` (no special tokens), so the
 * support mask lines up token for token, cut to `maxContext` tokens; the baseline's source is
 * `"question: {q} context: {ctx}"` built from the same context ids and cut to `maxSource`.
 *
 * @module
 */
import { type MultiHopExample, supportMask } from "../../datasets/multihop_qa.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";

/** Token budgets of the examples. */
export interface QaLengths {
  /** Context tokens the latent model reads (768 by default). */
  maxContext: number;
  /** Tokens of the baseline's question + context source (512 by default). */
  maxSource: number;
  /** Question tokens of the latent model. */
  maxQuestion: number;
  /** Answer tokens the decoder emits, the end token included (32). */
  maxAnswer: number;
}

/** The special ids the models use. */
export interface QaSpecialIds {
  pad: number;
  /** Decoder start token ([CLS]). */
  bos: number;
  /** Decoder end token ([SEP]). */
  eos: number;
}

/** One tokenized question. */
export interface QaExample {
  id: string;
  /** The gold answer text (for EM/F1). */
  answer: string;
  /** `"question: {q}"` ids, cut to `maxQuestion`. */
  question: number[];
  /** Context ids, cut to `maxContext`. */
  context: number[];
  /** 1 on context tokens of supporting sentences, 0 elsewhere (same length as `context`). */
  support: number[];
  /** The baseline's source ids, cut to `maxSource`. */
  source: number[];
  /** Context tokens inside `source`. */
  sourceContext: number;
  /** Answer ids without start or end token, cut to `maxAnswer − 1`. */
  answerIds: number[];
}

/** [PAD], [CLS] and [SEP] of `tokenizer`; throws naming the missing token. */
export function qaSpecialIds(tokenizer: TextTokenizer): QaSpecialIds {
  return {
    pad: tokenizer.tokenId("[PAD]"),
    bos: tokenizer.tokenId("[CLS]"),
    eos: tokenizer.tokenId("[SEP]"),
  };
}

/** Tokenizes one example under the budgets. */
export function tokenizeQaExample(
  example: MultiHopExample,
  tokenizer: TextTokenizer,
  lengths: QaLengths,
): QaExample {
  const encode = (text: string) => tokenizer.encode(text, false);
  const full = supportMask(example, encode);
  const question = encode(`question: ${example.question}`);
  const context = full.ids.slice(0, lengths.maxContext);
  const prefix = [...question, ...encode("context:")];
  const source = [...prefix, ...full.ids].slice(0, lengths.maxSource);
  return {
    id: example.id,
    answer: example.answer,
    question: question.slice(0, lengths.maxQuestion),
    context,
    support: full.mask.slice(0, lengths.maxContext),
    source,
    sourceContext: Math.max(0, source.length - prefix.length),
    answerIds: encode(example.answer).slice(0, lengths.maxAnswer - 1),
  };
}

/** Share of context tokens that are supporting, over examples (the aux target's chance level). */
export function supportShare(examples: readonly QaExample[]): number {
  let on = 0, all = 0;
  for (const e of examples) {
    for (const m of e.support) on += m;
    all += e.context.length;
  }
  return all ? on / all : 0;
}
