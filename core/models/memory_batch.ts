/**
 * Padding documents for the encoder phase of a `MemoryLM` with learned memory tokens.
 *
 * @module
 */
import { type Tensor, tensor } from "../tensor.ts";
import type { MemoryPlacement } from "./memory_lm_config.ts";

/** A padded encoder batch from {@linkcode documentBatch}. */
export interface DocumentBatch {
  /** i32 [B, T]: document ids (left-padded for memory after, right-padded for memory before). */
  ids: Tensor;
  /** f32 [B, T]: 1 on real tokens. */
  padding: Tensor;
  /** i32 [B, T + l]: each row's positions as if it were alone (memory included). */
  positionIds: Tensor;
  /** Memory tokens l of the batch. */
  memoryTokens: number;
  /**
   * f32 [B, l, T] with the chunked layout: row (r, j) averages the tokens of chunk j of document
   * r (its tokens ⌈j·n/l⌉ … ⌈(j+1)·n/l⌉ − 1 of n), what memory token j is seeded with; else null.
   */
  chunks: Tensor | null;
}

/**
 * How memory tokens sit beside a document: `appended` (CLaRa: l identical learned vectors after
 * or before the text, at the next positions) or `chunked` (memory after the document only:
 * memory token j is seeded with the mean embedding of the j-th of l equal chunks of the document
 * and takes the position of that chunk's last token, so it reads its chunk at distances 0 … r−1).
 */
export type MemoryLayout = "appended" | "chunked";

/**
 * Pads documents for an encoder pass with `l` learned memory tokens so that every row encodes
 * as it would alone: with the memory after the documents the rows are left-padded (the memory
 * follows each document directly), before them right-padded; position ids count real tokens only.
 */
export function documentBatch(
  docs: readonly (readonly number[])[],
  l: number,
  placement: MemoryPlacement,
  pad = 0,
  layout: MemoryLayout = "appended",
): DocumentBatch {
  if (docs.length === 0) throw new Error("documentBatch: no documents");
  const chunked = layout === "chunked";
  if (chunked && placement !== "after") {
    throw new Error("documentBatch: the chunked layout needs the memory after the document");
  }
  const t = Math.max(...docs.map((d) => d.length));
  const ids = new Int32Array(docs.length * t).fill(pad);
  const padding = new Float32Array(docs.length * t);
  const positions = new Int32Array(docs.length * (t + l));
  const chunks = chunked ? new Float32Array(docs.length * l * t) : null;
  docs.forEach((doc, r) => {
    const start = placement === "after" ? t - doc.length : 0;
    ids.set(doc, r * t + start);
    padding.fill(1, r * t + start, r * t + start + doc.length);
    const row = positions.subarray(r * (t + l), (r + 1) * (t + l));
    if (placement === "after") {
      doc.forEach((_, i) => (row[start + i] = i));
      const n = doc.length;
      for (let j = 0; j < l; j++) {
        if (!chunks) {
          row[t + j] = n + j;
          continue;
        }
        const [lo, hi] = [Math.ceil(j * n / l), Math.ceil((j + 1) * n / l)];
        row[t + j] = Math.max(0, hi - 1);
        for (let i = lo; i < hi; i++) chunks[(r * l + j) * t + start + i] = 1 / (hi - lo);
      }
    } else {
      for (let j = 0; j < l; j++) row[j] = j;
      doc.forEach((_, i) => (row[l + i] = l + i));
    }
  });
  return {
    ids: tensor(ids, [docs.length, t], "i32"),
    padding: tensor(padding, [docs.length, t]),
    positionIds: tensor(positions, [docs.length, t + l], "i32"),
    memoryTokens: l,
    chunks: chunks && tensor(chunks, [docs.length, l, t]),
  };
}
