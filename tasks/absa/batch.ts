/**
 * Collates ABSA examples into the model's tensors: encoder input (memory tokens first), per-aspect
 * prompts (left-padded so the answer slot is last), labels, and the teacher-forced decoder
 * sequences of the reconstruction and extraction losses.
 *
 * @module
 */
import { IGNORE_INDEX, padRows } from "../../datasets/batching.ts";
import {
  type AbsaPrompts,
  type FastClaraAbsa,
  MAX_ASPECT_DISTANCE,
  MAX_ASPECT_SLOTS,
  NO_ASPECT_DISTANCE,
} from "../../core/models/fast_clara_absa.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import type { AbsaExample, AbsaSpecialIds } from "./examples.ts";
import type { Rng } from "../../core/random.ts";

/** A teacher-forced sequence read from memory: inputs, padding and next-token targets. */
export interface TeacherForced {
  ids: Tensor;
  padding: Tensor;
  targets: Tensor;
}

/** All tensors of one batch (the caller disposes them, e.g. with tidy). */
export interface AbsaBatch {
  /** i32 [B, m + T]. */
  encoderIds: Tensor;
  /** f32 [B, m + T]. */
  encoderPadding: Tensor;
  /** i32 [B, m + T]: the aspect slot of each token (0 outside aspect terms). */
  encoderAspects: Tensor;
  /** i32 [B, m + T]: distance buckets to the nearest aspect term (with `aspectRegions`). */
  encoderDistances?: Tensor;
  /**
   * i32 [B, m, m + T]: per memory token, each key's distance bucket to the term of the aspect
   * that owns the memory token (with `aspectAttention`).
   */
  memoryDistances?: Tensor;
  /** f32 [B, T]: real sentence tokens (for the alignment loss). */
  textPadding: Tensor;
  /** Aspect prompts of the 3-way-labelled aspects. */
  prompts: AbsaPrompts;
  /**
   * f32 [N, T]: per scored aspect, weights over its sentence's encoder text positions that average
   * its term tokens (with `termWeights`; all zero for an aspect without a term span).
   */
  termWeights?: Tensor;
  /** i32 [N] polarity labels. */
  labels: Tensor;
  /** Reconstruction of the first rows: `[CLS] sentence` → `sentence [SEP]`. */
  reconstruction: TeacherForced;
  /** Extraction: `[CLS] structure` → `structure [SEP]`. */
  extraction: TeacherForced;
  /** Host copies for scoring. */
  hostLabels: number[];
  /** Sentence tokens in the batch (for throughput). */
  tokenCount: number;
}

function leftPad(
  rows: number[][],
  pad: number,
): { ids: Int32Array; mask: Float32Array; width: number } {
  const width = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * width).fill(pad);
  const mask = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    const start = (i + 1) * width - r.length;
    ids.set(r, start);
    mask.fill(1, start, start + r.length);
  });
  return { ids, mask, width };
}

function teacherForced(bodies: number[][], special: AbsaSpecialIds): TeacherForced {
  const inputs = padRows(bodies.map((b) => [special.cls, ...b]), special.pad);
  const [rows, width] = inputs.shape;
  const targets = new Int32Array(rows * width).fill(IGNORE_INDEX);
  bodies.forEach((b, r) => {
    [...b, special.sep].forEach((tok, t) => (targets[r * width + t] = tok));
  });
  return {
    ids: tensor(inputs.ids, [rows, width], "i32"),
    padding: tensor(inputs.mask, [rows, width]),
    targets: tensor(targets, [rows, width], "i32"),
  };
}

/** Options of {@linkcode collateAbsa}. */
export interface CollateOptions {
  /**
   * Reconstruction and extraction cover the first `generativeRows` sentences (all when 0): their
   * vocabulary-sized logits dominate the step's cost, so a subset per batch keeps them cheap.
   */
  generativeRows?: number;
  /** Each encoder sentence token becomes [MASK] with probability `rate`. */
  wordDropout?: { rate: number; rng: Rng };
  /**
   * Share the memory tokens out among the sentence's aspects: memory token j carries the slot of
   * aspect (j mod A) + 1, so each aspect owns some memory the decoder can address by its slot.
   */
  slotMemory?: boolean;
  /**
   * Every sentence token takes the slot of its nearest aspect term, and `encoderDistances` holds
   * its distance to that term (see `FastClaraAbsaConfig.aspectRegions`).
   */
  aspectRegions?: boolean;
  /**
   * With `slotMemory`: fill `memoryDistances`, each memory token's distance from every key to
   * its own aspect's term (see `FastClaraAbsaConfig.aspectAttention`).
   */
  aspectAttention?: boolean;
  /** Fill `termWeights` (for `FastClaraAbsa.classifyTerms`). */
  termWeights?: boolean;
}

/** Per token: the slot of the nearest aspect term and the distance to it (ties go left). */
export function nearestAspects(
  termSlots: readonly number[],
): { slots: number[]; distances: number[] } {
  const terms = termSlots.flatMap((slot, i) => (slot > 0 ? [i] : []));
  if (terms.length === 0) {
    return { slots: termSlots.map(() => 0), distances: termSlots.map(() => NO_ASPECT_DISTANCE) };
  }
  const slots: number[] = [], distances: number[] = [];
  termSlots.forEach((_, i) => {
    let best = terms[0];
    for (const j of terms) if (Math.abs(j - i) < Math.abs(best - i)) best = j;
    slots.push(termSlots[best]);
    distances.push(Math.min(Math.abs(best - i), MAX_ASPECT_DISTANCE));
  });
  return { slots, distances };
}

/** Per token, the distance bucket to the nearest token of slot `slot`'s term (all far when absent). */
export function distancesToTerm(termSlots: readonly number[], slot: number): number[] {
  const term = termSlots.flatMap((s, i) => (s === slot && slot > 0 ? [i] : []));
  return termSlots.map((_, i) =>
    term.length === 0
      ? NO_ASPECT_DISTANCE
      : Math.min(MAX_ASPECT_DISTANCE, ...term.map((j) => Math.abs(j - i)))
  );
}

/** Builds the tensors of one batch; aspects without a 3-way label are left out of `prompts`. */
export function collateAbsa(
  examples: readonly AbsaExample[],
  special: AbsaSpecialIds,
  options: CollateOptions = {},
): AbsaBatch {
  const {
    generativeRows = 0,
    wordDropout,
    slotMemory = false,
    aspectRegions = false,
    aspectAttention = false,
    termWeights = false,
  } = options;
  const generative = generativeRows > 0 ? examples.slice(0, generativeRows) : examples;
  // Word dropout hides encoder tokens behind [MASK]; the reconstruction targets keep the originals.
  const encoderTokens = (e: AbsaExample) =>
    wordDropout
      ? e.tokens.map((t) => (wordDropout.rng.next() < wordDropout.rate ? special.mask : t))
      : e.tokens;
  const m = special.memory.length;
  const memorySlots = (e: AbsaExample) => {
    const owners = Math.min(e.aspects.length, MAX_ASPECT_SLOTS);
    return special.memory.map((_, j) => slotMemory && owners > 0 ? (j % owners) + 1 : 0);
  };
  const enc = padRows(
    examples.map((e) => [...special.memory, special.cls, ...encoderTokens(e), special.sep]),
    special.pad,
  );
  const [b, width] = enc.shape;
  const regions = examples.map((e) => aspectRegions ? nearestAspects(e.aspectSlots) : null);
  const aspects = padRows(
    examples.map((e, r) => [...memorySlots(e), 0, ...(regions[r]?.slots ?? e.aspectSlots), 0]),
    0,
    width,
  );
  const distances = aspectRegions
    ? padRows(
      regions.map((r) => [
        ...special.memory.map(() => NO_ASPECT_DISTANCE),
        NO_ASPECT_DISTANCE,
        ...r!.distances,
        NO_ASPECT_DISTANCE,
      ]),
      NO_ASPECT_DISTANCE,
      width,
    )
    : null;
  let memoryDistances: Int32Array | null = null;
  if (aspectAttention && slotMemory) {
    memoryDistances = new Int32Array(b * m * width).fill(NO_ASPECT_DISTANCE);
    examples.forEach((e, r) => {
      memorySlots(e).forEach((slot, j) => {
        memoryDistances!.set(distancesToTerm(e.aspectSlots, slot), (r * m + j) * width + m + 1);
      });
    });
  }
  const textPadding = new Float32Array(b * (width - m));
  for (let r = 0; r < b; r++) {
    textPadding.set(enc.mask.subarray(r * width + m, (r + 1) * width), r * (width - m));
  }
  const scored = examples.flatMap((e, i) =>
    e.aspects.filter((a) => a.label >= 0).map((a) => ({ i, a }))
  );
  const prompts = leftPad(scored.map((s) => s.a.prompt), special.pad);
  const promptSlots = leftPad(scored.map((s) => s.a.prompt.map(() => s.a.slot)), 0);
  const hostLabels = scored.map((s) => s.a.label);
  let terms: Float32Array | null = null;
  if (termWeights) {
    terms = new Float32Array(scored.length * (width - m));
    scored.forEach(({ i, a }, n) => {
      const span = examples[i].aspectSlots.flatMap((slot, t) => (slot === a.slot ? [t] : []));
      // Text position 0 is [CLS], so sentence token t sits at t + 1.
      for (const t of span) terms![n * (width - m) + t + 1] = 1 / span.length;
    });
  }
  return {
    encoderIds: tensor(enc.ids, [b, width], "i32"),
    encoderPadding: tensor(enc.mask, [b, width]),
    encoderAspects: tensor(aspects.ids, [b, width], "i32"),
    encoderDistances: distances ? tensor(distances.ids, [b, width], "i32") : undefined,
    memoryDistances: memoryDistances ? tensor(memoryDistances, [b, m, width], "i32") : undefined,
    textPadding: tensor(textPadding, [b, width - m]),
    prompts: {
      memoryIndex: tensor(scored.map((s) => s.i), [scored.length], "i32"),
      ids: tensor(prompts.ids, [scored.length, prompts.width], "i32"),
      padding: tensor(prompts.mask, [scored.length, prompts.width]),
      slots: tensor(promptSlots.ids, [scored.length, prompts.width], "i32"),
    },
    termWeights: terms ? tensor(terms, [scored.length, width - m]) : undefined,
    labels: tensor(hostLabels, [scored.length], "i32"),
    reconstruction: teacherForced(generative.map((e) => e.tokens), special),
    extraction: teacherForced(generative.map((e) => e.extraction), special),
    hostLabels,
    tokenCount: examples.reduce((n, e) => n + e.tokens.length, 0),
  };
}

/** The encoder phase of `model` on a collated batch: memory [B, m, D] and sentence states. */
export function encodeBatch(
  model: FastClaraAbsa,
  batch: AbsaBatch,
): { memory: Tensor; text: Tensor } {
  return model.encode(batch.encoderIds, batch.encoderPadding, {
    slots: batch.encoderAspects,
    distances: batch.encoderDistances,
    memoryDistances: batch.memoryDistances,
  });
}
