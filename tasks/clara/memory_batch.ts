/**
 * Batches of CLaRa's "memories → text" examples and what the model makes of them. An example is
 * a few documents (token ids), a prompt and a target: the documents are compressed together in
 * one encoder call (l memory tokens each, l from the longest document at the model's compression
 * rate), each example's memories are gathered in order into one prefix `[M(doc 1)] … [M(doc k)]`
 * (examples with fewer documents get masked slots), and the generator reads
 * `memory ⊕ prompt ⊕ target` with next-token labels on the target only.
 *
 * @module
 */
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { type Tensor, tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import * as ops from "../../core/ops/mod.ts";
import { IGNORE_INDEX, padRows } from "../../datasets/batching.ts";

/** One tokenized example: documents, prompt (ends with the separator) and target (ends with EOS). */
export interface MemoryExample {
  docs: number[][];
  prompt: number[];
  target: number[];
}

/** The memory prefix of a batch: [B, slots · l, D] with its mask, and what it came from. */
export interface BatchMemory {
  /** [B, slots · l, D]: each example's document memories in order. */
  memory: Tensor;
  /** [B, slots · l]: 1 on real memory vectors. */
  mask: Tensor;
  /** The same mask on the host (for generation). */
  maskRows: number[][];
  /** Memory tokens per document in this batch. */
  l: number;
  /** L_mse of the documents (only when asked). */
  alignment: Tensor | null;
}

/**
 * Compresses the documents of `docsPerRow` (each row's documents in order) and gathers each row's
 * memories; with `alignment`, also the MSE between each document's mean memory and mean token
 * state. Documents are compressed under no gradient when `frozen`.
 */
export function batchMemory(
  model: MemoryLM,
  docsPerRow: readonly (readonly number[][])[],
  options: { alignment?: boolean; frozen?: boolean } = {},
): BatchMemory {
  const docs = docsPerRow.flat();
  if (docs.length === 0) throw new Error("batchMemory: no documents");
  const l = model.memoryCount(Math.max(...docs.map((d) => d.length)));
  const slots = Math.max(...docsPerRow.map((r) => r.length));
  const encode = () => {
    const b = model.documentBatch(docs, l);
    const out = model.encode(b.ids, b.padding, {
      memoryTokens: l,
      positionIds: b.positionIds,
      chunks: b.chunks,
    });
    const alignment = options.alignment
      ? model.alignmentLoss(out.memory, out.text, b.padding)
      : null;
    return { memory: out.memory, alignment };
  };
  const { memory, alignment } = options.frozen ? noGrad(encode) : encode();
  const d = memory.shape[2];
  const index = new Int32Array(docsPerRow.length * slots * l);
  const maskRows: number[][] = [];
  let doc = 0;
  docsPerRow.forEach((row, r) => {
    const mask = new Array(slots * l).fill(0);
    row.forEach((_, s) => {
      for (let j = 0; j < l; j++) {
        index[(r * slots + s) * l + j] = (doc + s) * l + j;
        mask[s * l + j] = 1;
      }
    });
    doc += row.length;
    maskRows.push(mask);
  });
  const gathered = ops.gatherRows(
    memory.reshape([docs.length * l, d]),
    tensor(index, [index.length], "i32"),
  ).reshape([docsPerRow.length, slots * l, d]);
  return {
    memory: gathered,
    mask: tensor(Float32Array.from(maskRows.flat()), [docsPerRow.length, slots * l]),
    maskRows,
    l,
    alignment,
  };
}

/** What a generator reads before its prompt: its documents' memories, or their tokens. */
export type DocumentReader = "memory" | "text";

/** The text prefix of a batch: each row's documents' tokens, concatenated and embedded. */
export interface BatchText {
  /** [B, W, D]: the token embeddings, right-padded to the longest row. */
  memory: Tensor;
  /** [B, W]: 1 on real tokens. */
  mask: Tensor;
  /** The same mask on the host (for generation). */
  maskRows: number[][];
}

/**
 * The uncompressed reading of `docsPerRow`: each row's documents' token ids in order, embedded
 * by the model's token table, standing where the memories would (the text baseline's prefix).
 */
export function batchText(
  model: MemoryLM,
  docsPerRow: readonly (readonly number[][])[],
): BatchText {
  const rows = docsPerRow.map((docs) => docs.flat());
  const width = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * width);
  const maskRows = rows.map((r) => Array.from({ length: width }, (_, i) => (i < r.length ? 1 : 0)));
  rows.forEach((r, i) => ids.set(r, i * width));
  return {
    memory: model.embed(tensor(ids, [rows.length, width], "i32")),
    mask: tensor(Float32Array.from(maskRows.flat()), [rows.length, width]),
    maskRows,
  };
}

/** Teacher-forced decoder rows: inputs `prompt ⊕ target[:-1]`, labels on the target only. */
export interface DecoderRows {
  inputs: Tensor;
  labels: Tensor;
  padding: Tensor;
  /** [B, T] 1 on the positions of the prompt (what a prompt-copy generator may copy). */
  promptMask: Tensor;
  /** The labels on the host, row-major. */
  hostLabels: Int32Array;
  /** Target tokens in the batch (labels that count). */
  targetTokens: number;
}

/** Decoder inputs and labels of `examples`, right-padded with `pad`. */
export function decoderRows(examples: readonly MemoryExample[], pad: number): DecoderRows {
  const rows = examples.map((e) => {
    if (e.prompt.length === 0 || e.target.length === 0) {
      throw new Error("decoderRows: an example needs a non-empty prompt and target");
    }
    const seq = [...e.prompt, ...e.target];
    const labels = seq.slice(1).map((t, i) => (i >= e.prompt.length - 1 ? t : IGNORE_INDEX));
    return { inputs: seq.slice(0, -1), labels };
  });
  const inputs = padRows(rows.map((r) => r.inputs), pad);
  const labels = padRows(rows.map((r) => r.labels), IGNORE_INDEX);
  const width = inputs.shape[1];
  const promptMask = new Float32Array(examples.length * width);
  examples.forEach((e, r) => promptMask.fill(1, r * width, r * width + e.prompt.length));
  return {
    inputs: tensor(inputs.ids, inputs.shape, "i32"),
    labels: tensor(labels.ids, labels.shape, "i32"),
    padding: tensor(inputs.mask, inputs.shape),
    promptMask: tensor(promptMask, inputs.shape),
    hostLabels: labels.ids,
    targetTokens: examples.reduce((n, e) => n + e.target.length, 0),
  };
}

/**
 * The generator's loss terms of a batch: NTP cross-entropy on the targets (of the copy mixture
 * for a prompt-copy generator) and L_mse.
 */
export interface MemoryLosses {
  ce: Tensor;
  mse: Tensor | null;
  /** Vocabulary logits [B, T, V] of the decoder rows (without the copy side). */
  logits: Tensor;
  /** The labels on the host, row-major [B · T]. */
  hostLabels: Int32Array;
}

/**
 * Cross-entropy of the targets read from the examples' memories (and L_mse when asked), or, with
 * `reader: "text"`, from their documents' token embeddings (no compressor, no L_mse).
 */
export function memoryLosses(
  model: MemoryLM,
  examples: readonly MemoryExample[],
  pad: number,
  options: { alignment?: boolean; frozen?: boolean; reader?: DocumentReader } = {},
): MemoryLosses {
  const docs = examples.map((e) => e.docs);
  const m = options.reader === "text"
    ? { ...batchText(model, docs), alignment: null }
    : batchMemory(model, docs, options);
  const rows = decoderRows(examples, pad);
  const read = model.readTarget(m.memory, rows.inputs, rows.padding, {
    memoryPadding: m.mask,
    promptMask: rows.promptMask,
  });
  return {
    ce: model.targetNll(read, rows.labels, IGNORE_INDEX),
    mse: m.alignment,
    logits: read.logits,
    hostLabels: rows.hostLabels,
  };
}
