/**
 * The one place that knows npm:@huggingface/tokenizers. It loads any standard `tokenizer.json`
 * (BPE, WordPiece, Unigram) and adds what the library lacks: batch encoding with padding and
 * truncation that keeps the special tokens of the post-processor.
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { writeJsonAtomic } from "../core/io/atomic.ts";

/** Options for {@linkcode TextTokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Truncate longer sequences to this many ids (special tokens included). */
  maxLength?: number;
  /** "longest" pads to the longest row, "max_length" to `maxLength` (default "longest"). */
  padding?: "longest" | "max_length";
  /** Add the post-processor's special tokens, e.g. [CLS] … [SEP] (default true). */
  addSpecialTokens?: boolean;
}

/** A padded batch: row-major ids and a 1/0 mask of real tokens. */
export interface BatchEncoding {
  /** Token ids per row, right-padded with the pad id to a common width. */
  ids: number[][];
  /** Per row, 1 for a real token and 0 for padding; same shape as `ids`. */
  attentionMask: number[][];
  /** Real (unpadded) length of each row. */
  lengths: number[];
}

/** A loaded tokenizer.json with encode, decode and batch encode. */
export class TextTokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #specialCount: number;

  /** Wraps a parsed tokenizer.json (and an optional tokenizer_config.json). */
  constructor(readonly json: TokenizerJson, config: Record<string, unknown> = {}) {
    this.#tokenizer = new Tokenizer(json, config);
    this.#specialCount = this.#tokenizer.post_processor?.([]).tokens.length ?? 0;
  }

  /** Reads a tokenizer.json file. */
  static async load(path: string): Promise<TextTokenizer> {
    return new TextTokenizer(JSON.parse(await Deno.readTextFile(path)));
  }

  /** Writes the tokenizer.json this tokenizer was built from (atomically). */
  async save(path: string): Promise<void> {
    await writeJsonAtomic(path, this.json);
  }

  /** Number of ids, added tokens included. */
  get vocabSize(): number {
    return this.#tokenizer.get_vocab(true).size;
  }

  /** The id of `token`; throws when it is not in the vocabulary. */
  tokenId(token: string): number {
    const id = this.#tokenizer.token_to_id(token);
    if (id === undefined) {
      throw new Error(`token ${JSON.stringify(token)} is not in the vocabulary`);
    }
    return id;
  }

  /** The normalizer's output for `text` (the text itself when there is none). */
  normalize(text: string): string {
    return this.#tokenizer.normalizer?.normalize(text) ?? text;
  }

  /** The pre-tokenizer's words for already-normalized text. */
  preTokenize(normalized: string): string[] {
    return this.#tokenizer.pre_tokenizer?.pre_tokenize(normalized) ?? [normalized];
  }

  /** Token strings for `text`. */
  tokenize(text: string, addSpecialTokens = true): string[] {
    return this.#tokenizer.tokenize(text, { add_special_tokens: addSpecialTokens });
  }

  /** Ids for `text`. */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Text for `ids`; tokenization-space cleanup is off unless asked, so round trips are exact. */
  decode(ids: number[], options: { skipSpecialTokens?: boolean; cleanUp?: boolean } = {}): string {
    return this.#tokenizer.decode(ids, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUp ?? false,
    });
  }

  /** Encodes many texts, truncating before special tokens are added and padding with `padId`. */
  encodeBatch(texts: string[], padId: number, options: EncodeBatchOptions = {}): BatchEncoding {
    const addSpecial = options.addSpecialTokens ?? true;
    const budget = options.maxLength === undefined
      ? Infinity
      : options.maxLength - (addSpecial ? this.#specialCount : 0);
    if (budget < 0) throw new Error(`maxLength ${options.maxLength} leaves no room for text`);
    const rows = texts.map((text) => {
      const tokens = this.#tokenizer.tokenize(text, { add_special_tokens: false }).slice(0, budget);
      const withSpecial = addSpecial && this.#tokenizer.post_processor
        ? this.#tokenizer.post_processor(tokens).tokens
        : tokens;
      return withSpecial.map((t) => this.tokenId(t));
    });
    const lengths = rows.map((r) => r.length);
    if (options.padding === "max_length" && options.maxLength === undefined) {
      throw new Error('padding "max_length" needs maxLength');
    }
    const width = options.padding === "max_length" ? options.maxLength! : Math.max(0, ...lengths);
    return {
      ids: rows.map((r) => [...r, ...new Array(width - r.length).fill(padId)]),
      attentionMask: rows.map((r) => [...r.map(() => 1), ...new Array(width - r.length).fill(0)]),
      lengths,
    };
  }
}

/** The parts of a tokenizer.json this toolkit writes; the library accepts the full schema. */
export interface TokenizerJson {
  /** Schema version of the file, e.g. "1.0". */
  version: string;
  /** Always null: truncation is done by {@linkcode TextTokenizer.encodeBatch}. */
  truncation: null;
  /** Always null: padding is done by {@linkcode TextTokenizer.encodeBatch}. */
  padding: null;
  /** Tokens matched before the model runs (special tokens such as [CLS]). */
  added_tokens: AddedTokenJson[];
  /** Text normalisation step, e.g. `{ type: "BertNormalizer", … }`; null for none. */
  normalizer: Record<string, unknown> | null;
  /** How text is split into words, e.g. `{ type: "ByteLevel", … }`; null for none. */
  pre_tokenizer: Record<string, unknown> | null;
  /** Adds special tokens around a sequence, e.g. `BertProcessing`; null for none. */
  post_processor: Record<string, unknown> | null;
  /** Turns tokens back into text, e.g. `{ type: "WordPiece", … }`; null for none. */
  decoder: Record<string, unknown> | null;
  /** The subword model (`type` "WordPiece", "BPE", …) with its `vocab`. */
  model: Record<string, unknown>;
}

/** One entry of `added_tokens`. */
export interface AddedTokenJson {
  /** Id of the token in the vocabulary. */
  id: number;
  /** The token's text, e.g. "[CLS]". */
  content: string;
  /** Match only as a whole word, not inside one. */
  single_word: boolean;
  /** Swallow whitespace to the token's left when matching. */
  lstrip: boolean;
  /** Swallow whitespace to the token's right when matching. */
  rstrip: boolean;
  /** Match against the normalised text rather than the raw input. */
  normalized: boolean;
  /** A special token: dropped by {@linkcode TextTokenizer.decode} with `skipSpecialTokens`. */
  special: boolean;
}

/** An `added_tokens` entry for a special token. */
export function specialToken(id: number, content: string): AddedTokenJson {
  return {
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
}
