/**
 * Turns ABSA sentences into token-id examples for the Fast CLaRa ABSA model: the sentence, one
 * prompt per aspect, the polarity label, and the extraction target (the sentence's
 * aspect–polarity structure as text).
 *
 * @module
 */
import type { AbsaSentence } from "../../datasets/absa_xml.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";

/** The 3-way polarity labels, in class-index order. */
export const POLARITY_LABELS = ["positive", "negative", "neutral"] as const;

/** Which aspect annotation a run uses. */
export type AbsaTask = "atsa" | "acsa";

/** One aspect of a sentence. */
export interface AspectExample {
  /** The aspect term (ATSA) or category (ACSA). */
  aspect: string;
  /** Prompt ids: `[CLS] aspect [MASK]`. */
  prompt: number[];
  /** Index into {@linkcode POLARITY_LABELS}, or -1 for labels outside the 3-way scheme (conflict). */
  label: number;
  /** The gold polarity as written in the file. */
  polarity: string;
}

/** One sentence with all its aspects. */
export interface AbsaExample {
  /** Sentence id from the file. */
  id: string;
  /** Sentence text. */
  text: string;
  /** Sentence ids without special tokens (truncated to the budget). */
  tokens: number[];
  /** 1 for tokens inside an aspect-term span, 0 elsewhere; same length as `tokens`. */
  aspectMask: number[];
  /** The aspects. */
  aspects: AspectExample[];
  /** "term polarity [SEP] term polarity …" ids, the extraction target. */
  extraction: number[];
}

/** Ids of the special tokens the model uses. */
export interface AbsaSpecialIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
  memory: number[];
}

/** Looks up the special ids in a tokenizer trained with `memoryTokens` memory tokens. */
export function absaSpecialIds(tokenizer: TextTokenizer, memoryTokens: number): AbsaSpecialIds {
  return {
    pad: tokenizer.tokenId("[PAD]"),
    cls: tokenizer.tokenId("[CLS]"),
    sep: tokenizer.tokenId("[SEP]"),
    mask: tokenizer.tokenId("[MASK]"),
    memory: Array.from({ length: memoryTokens }, (_, i) => tokenizer.tokenId(`[M${i}]`)),
  };
}

/** Tokenizes sentences into examples; `maxTokens` caps the sentence length. */
export function buildAbsaExamples(
  sentences: readonly AbsaSentence[],
  tokenizer: TextTokenizer,
  options: { task: AbsaTask; maxTokens: number; special: AbsaSpecialIds },
): AbsaExample[] {
  const ids = (s: string) => tokenizer.encode(s, false);
  return sentences.map((s) => {
    const raw = options.task === "atsa"
      ? s.terms.map((t) => ({ aspect: t.term, polarity: t.polarity }))
      : s.categories.map((c) => ({ aspect: c.category, polarity: c.polarity }));
    const aspects = raw.map(({ aspect, polarity }) => ({
      aspect,
      polarity,
      prompt: [options.special.cls, ...ids(aspect).slice(0, 8), options.special.mask],
      label: (POLARITY_LABELS as readonly string[]).indexOf(polarity),
    }));
    const extraction = raw.flatMap(({ aspect, polarity }) => [
      ...ids(aspect).slice(0, 8),
      ...ids(polarity),
      options.special.sep,
    ]).slice(0, options.maxTokens);
    const spans = options.task === "atsa"
      ? s.terms.map((t) => [t.from, t.to] as [number, number])
      : [];
    const { tokens, aspectMask } = tokenizeWithSpans(s.text, spans, ids);
    return {
      id: s.id,
      text: s.text,
      tokens: tokens.slice(0, options.maxTokens),
      aspectMask: aspectMask.slice(0, options.maxTokens),
      aspects,
      extraction,
    };
  });
}

/**
 * Tokenizes `text` piecewise at the span edges so each token knows whether it lies inside a span.
 * Spans are [from, to) character offsets; overlapping spans merge. Word-level pre-tokenization
 * splits at the same places, so the ids match whole-text tokenization when spans sit on word edges.
 */
export function tokenizeWithSpans(
  text: string,
  spans: [number, number][],
  encode: (s: string) => number[],
): { tokens: number[]; aspectMask: number[] } {
  const merged: [number, number][] = [];
  for (const [from, to] of spans.toSorted((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  const tokens: number[] = [], aspectMask: number[] = [];
  const push = (piece: string, flag: number) => {
    for (const id of encode(piece)) {
      tokens.push(id);
      aspectMask.push(flag);
    }
  };
  let at = 0;
  for (const [from, to] of merged) {
    push(text.slice(at, from), 0);
    push(text.slice(from, to), 1);
    at = to;
  }
  push(text.slice(at), 0);
  return { tokens, aspectMask };
}
