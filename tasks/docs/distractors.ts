/**
 * Hard negatives for single-document instruction records: each record with fewer than `docs`
 * documents gains the BM25-best (statistics of the whole file's documents) of `pool` documents
 * drawn at random from the other records, and its gold documents move to random places among
 * them (`pos_index` follows). This turns the offline synthesizer's one-chunk cloze questions into
 * the multi-document setting of CLaRa's instruction data, where a reader must find which memory
 * holds the answer.
 *
 * @module
 */
import { Bm25Index } from "../../datasets/bm25.ts";
import { seededShuffle } from "../../datasets/batching.ts";
import { Rng } from "../../core/random.ts";
import type { InstructionRecord } from "./stage_records.ts";

/** How records are padded. */
export interface DistractorOptions {
  /** Documents per record after padding (records that have as many already are kept as they are). */
  docs: number;
  /** Random candidates drawn per record; the BM25-best of them become its distractors. */
  pool: number;
  seed: number;
}

/** The records with distractors added; the input is not changed. */
export function addDistractors(
  records: readonly InstructionRecord[],
  options: DistractorOptions,
): InstructionRecord[] {
  const corpus = [...new Set(records.flatMap((r) => r.docs))];
  const index = new Bm25Index(corpus);
  const rng = new Rng(options.seed);
  return records.map((r) => {
    const need = options.docs - r.docs.length;
    if (need <= 0) return r;
    const own = new Set(r.docs);
    const rows = new Set<number>();
    const draws = Math.min(options.pool, corpus.length - own.size);
    for (let tries = 0; rows.size < draws && tries < draws * 20; tries++) {
      const row = rng.int(corpus.length);
      if (!own.has(corpus[row])) rows.add(row);
    }
    const chosen = index.rankOf(r.question, [...rows], need).map((row) => corpus[row]);
    const gold = new Set(r.pos_index);
    const order = seededShuffle([...r.docs.keys(), ...chosen.map((_, i) => -1 - i)], rng);
    const docs = order.map((i) => (i >= 0 ? r.docs[i] : chosen[-1 - i]));
    const pos_index = order.flatMap((i, place) => (i >= 0 && gold.has(i) ? [place] : []));
    return { ...r, docs, pos_index };
  });
}
