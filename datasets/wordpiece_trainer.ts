/**
 * Trains a WordPiece vocabulary over a corpus and emits a standard BERT-style `tokenizer.json`
 * (BertNormalizer, BertPreTokenizer, WordPiece model, [CLS] … [SEP] post-processor). Merges are
 * learned greedily by pair frequency, as the Hugging Face WordPiece trainer does, with ties broken
 * by the pair's text so a corpus always gives the same vocabulary.
 *
 * @module
 */
import { specialToken, TextTokenizer, type TokenizerJson } from "./tokenizer.ts";

/** The fixed special tokens, ids 0–4 in this order; memory tokens `[M0]…` follow. */
export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

/** Training options. */
export interface WordPieceTrainOptions {
  /** Target vocabulary size including special and memory tokens (default 8000). */
  vocabSize?: number;
  /** Number of memory tokens `[M0]…[M{n-1}]` (default 0). */
  memoryTokens?: number;
  /** Lowercase and strip accents (default true, as in BERT uncased). */
  lowercase?: boolean;
  /** Pairs seen fewer times than this are not merged (default 2). */
  minFrequency?: number;
}

const PREFIX = "##";

/** Learns a vocabulary from `corpus` and returns the tokenizer.json object. */
export function trainWordPiece(
  corpus: Iterable<string>,
  options: WordPieceTrainOptions = {},
): TokenizerJson {
  const { vocabSize = 8000, memoryTokens = 0, lowercase = true, minFrequency = 2 } = options;
  const specials = [
    ...SPECIAL_TOKENS,
    ...Array.from({ length: memoryTokens }, (_, i) => `[M${i}]`),
  ];
  const skeleton = bertTokenizerJson(
    specials,
    Object.fromEntries(specials.map((t, i) => [t, i])),
    lowercase,
  );
  const splitter = new TextTokenizer(skeleton);

  const wordCounts = new Map<string, number>();
  for (const text of corpus) {
    for (const word of splitter.preTokenize(splitter.normalize(text))) {
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
    }
  }
  const words = [...wordCounts.keys()].map((w) => [...w].map((c, i) => (i === 0 ? c : PREFIX + c)));
  const counts = [...wordCounts.values()];

  const vocab: string[] = [...specials];
  const known = new Set(vocab);
  for (const symbols of words) for (const s of symbols) known.add(s);
  vocab.push(...[...known].filter((s) => !specials.includes(s)).sort());

  const merger = new PairCounts(words, counts);
  while (vocab.length < vocabSize) {
    const best = merger.best(minFrequency);
    if (best === undefined) break;
    const merged = merger.merge(best);
    if (!known.has(merged)) {
      known.add(merged);
      vocab.push(merged);
    }
  }
  return bertTokenizerJson(specials, Object.fromEntries(vocab.map((t, i) => [t, i])), lowercase);
}

/**
 * Returns a copy of a WordPiece tokenizer.json whose vocabulary also holds each of `words` whole
 * (new ids after the existing ones). Only words that the tokenizer's own normalizer and
 * pre-tokenizer keep as one word are added, so every added entry can be produced by encoding.
 */
export function addWholeWords(json: TokenizerJson, words: Iterable<string>): TokenizerJson {
  const model = json.model as { type: string; vocab: Record<string, number> };
  if (model.type !== "WordPiece") throw new Error(`addWholeWords: a ${model.type} model`);
  const splitter = new TextTokenizer(json);
  const vocab = { ...model.vocab };
  let next = Object.keys(vocab).length;
  for (const word of words) {
    const pieces = splitter.preTokenize(splitter.normalize(word));
    if (pieces.length === 1 && !(pieces[0] in vocab)) vocab[pieces[0]] = next++;
  }
  return { ...json, model: { ...json.model, vocab } };
}

function joinPair(a: string, b: string): string {
  return a + (b.startsWith(PREFIX) ? b.slice(PREFIX.length) : b);
}

/** Pair frequencies over all words, updated incrementally as pairs merge. */
class PairCounts {
  #pairs = new Map<string, number>();
  #where = new Map<string, Set<number>>();

  constructor(private words: string[][], private counts: number[]) {
    words.forEach((_, w) => this.#add(w, 1));
  }

  best(minFrequency: number): string | undefined {
    let bestKey: string | undefined;
    let bestCount = minFrequency - 1;
    for (const [key, count] of this.#pairs) {
      if (count > bestCount || (count === bestCount && bestKey !== undefined && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    return bestKey;
  }

  /** Merges every occurrence of the pair `key` ("a b"); returns the new symbol. */
  merge(key: string): string {
    const [a, b] = key.split(" ");
    const merged = joinPair(a, b);
    for (const w of [...(this.#where.get(key) ?? [])]) {
      this.#add(w, -1);
      const symbols = this.words[w];
      const out: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(symbols[i]);
      }
      this.words[w] = out;
      this.#add(w, 1);
    }
    return merged;
  }

  #add(w: number, sign: 1 | -1): void {
    const symbols = this.words[w];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]} ${symbols[i + 1]}`;
      const count = (this.#pairs.get(key) ?? 0) + sign * this.counts[w];
      if (count === 0) {
        this.#pairs.delete(key);
        this.#where.delete(key);
      } else {
        this.#pairs.set(key, count);
        let set = this.#where.get(key);
        if (!set) this.#where.set(key, set = new Set());
        if (sign > 0) set.add(w);
        else set.delete(w);
      }
    }
  }
}

function bertTokenizerJson(
  specials: string[],
  vocab: Record<string, number>,
  lowercase: boolean,
): TokenizerJson {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((t, i) => specialToken(i, t)),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: lowercase ? null : false,
      lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "BertProcessing",
      sep: ["[SEP]", vocab["[SEP]"]],
      cls: ["[CLS]", vocab["[CLS]"]],
    },
    decoder: { type: "WordPiece", prefix: PREFIX, cleanup: false },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: PREFIX,
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}
