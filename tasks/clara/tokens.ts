/**
 * How CLaRa's texts become token ids, one place for training, evaluation and `ask:clara`:
 * a document is cut to the model's document budget; a prompt (a question, or a fixed task
 * instruction for paraphrase and reconstruction) ends with `[SEP]`; a target ends with `[SEP]`,
 * which is the EOS of generation.
 *
 * @module
 */
import type { TextTokenizer } from "../../datasets/tokenizer.ts";

/** Most prompt tokens before the separator. */
export const MAX_PROMPT_TOKENS = 48;

/** The special ids the stages use. */
export interface ClaraSpecial {
  /** Ends prompts and targets; the EOS. */
  sep: number;
  /** Padding. */
  pad: number;
}

/** The tokenizer's `[SEP]` and `[PAD]` ids. */
export function claraSpecial(tokenizer: TextTokenizer): ClaraSpecial {
  return { sep: tokenizer.tokenId("[SEP]"), pad: tokenizer.tokenId("[PAD]") };
}

/** A document's ids, at most `docTokens` of them (never empty: an empty text gives `[SEP]`). */
export function documentIds(
  tokenizer: TextTokenizer,
  text: string,
  docTokens: number,
): number[] {
  const ids = tokenizer.encode(text, false).slice(0, docTokens);
  return ids.length ? ids : [claraSpecial(tokenizer).sep];
}

/** A prompt's ids followed by `[SEP]`. */
export function promptIds(tokenizer: TextTokenizer, text: string): number[] {
  return [
    ...tokenizer.encode(text, false).slice(0, MAX_PROMPT_TOKENS),
    claraSpecial(tokenizer).sep,
  ];
}

/** A target's ids (at most `maxTokens`) followed by `[SEP]`. */
export function targetIds(tokenizer: TextTokenizer, text: string, maxTokens: number): number[] {
  return [...tokenizer.encode(text, false).slice(0, maxTokens), claraSpecial(tokenizer).sep];
}

/** Generated ids as text (special tokens dropped; no ids: the empty answer). */
export function decodeAnswer(tokenizer: TextTokenizer, ids: number[]): string {
  if (ids.length === 0) return "";
  return tokenizer.decode(ids, { skipSpecialTokens: true, cleanUp: true }).trim();
}
