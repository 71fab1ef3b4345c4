/**
 * Turns ABSA sentences into token-id examples for the Fast CLaRa ABSA model: the sentence, one
 * prompt per aspect, the polarity label, and the extraction target (the sentence's
 * aspect–polarity structure as text).
 *
 * @module
 */
import type { AbsaSentence } from "../../datasets/absa_xml.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { MAX_ASPECT_SLOTS } from "../../core/models/fast_clara_absa.ts";

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
  /** 1-based index of the aspect within its sentence (capped at {@linkcode MAX_ASPECT_SLOTS}). */
  slot: number;
}

/** The slot of the i-th (0-based) aspect of a sentence. */
export function aspectSlot(i: number): number {
  return Math.min(i + 1, MAX_ASPECT_SLOTS);
}

/** One sentence with all its aspects. */
export interface AbsaExample {
  /** Sentence id from the file. */
  id: string;
  /** Sentence text. */
  text: string;
  /** Sentence ids without special tokens (truncated to the budget). */
  tokens: number[];
  /** Per token: the slot (1-based aspect index) of the aspect-term span it lies in, 0 elsewhere. */
  aspectSlots: number[];
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
    const aspects = raw.map(({ aspect, polarity }, i) => ({
      aspect,
      polarity,
      slot: aspectSlot(i),
      prompt: [options.special.cls, ...ids(aspect).slice(0, 8), options.special.mask],
      label: (POLARITY_LABELS as readonly string[]).indexOf(polarity),
    }));
    const extraction = raw.flatMap(({ aspect, polarity }) => [
      ...ids(aspect).slice(0, 8),
      ...ids(polarity),
      options.special.sep,
    ]).slice(0, options.maxTokens);
    const spans = options.task === "atsa"
      ? s.terms.map((t, i) => ({ from: t.from, to: t.to, slot: aspectSlot(i) }))
      : [];
    const { tokens, aspectSlots } = tokenizeWithSpans(s.text, spans, ids);
    return {
      id: s.id,
      text: s.text,
      tokens: tokens.slice(0, options.maxTokens),
      aspectSlots: aspectSlots.slice(0, options.maxTokens),
      aspects,
      extraction,
    };
  });
}

/** A character span [from, to) of an aspect term and its slot. */
export interface AspectSpan {
  from: number;
  to: number;
  slot: number;
}

/**
 * Tokenizes `text` piecewise at the span edges so each token knows which aspect span it lies in
 * (its slot; 0 outside every span). Overlapping spans merge and keep the first slot. Word-level
 * pre-tokenization splits at the same places, so the ids match whole-text tokenization when spans
 * sit on word edges.
 */
export function tokenizeWithSpans(
  text: string,
  spans: readonly AspectSpan[],
  encode: (s: string) => number[],
): { tokens: number[]; aspectSlots: number[] } {
  const merged: AspectSpan[] = [];
  for (const span of spans.toSorted((a, b) => a.from - b.from)) {
    const last = merged.at(-1);
    if (last && span.from <= last.to) last.to = Math.max(last.to, span.to);
    else merged.push({ ...span });
  }
  const tokens: number[] = [], aspectSlots: number[] = [];
  const push = (piece: string, slot: number) => {
    for (const id of encode(piece)) {
      tokens.push(id);
      aspectSlots.push(slot);
    }
  };
  let at = 0;
  for (const { from, to, slot } of merged) {
    push(text.slice(at, from), 0);
    push(text.slice(from, to), slot);
    at = to;
  }
  push(text.slice(at), 0);
  return { tokens, aspectSlots };
}
