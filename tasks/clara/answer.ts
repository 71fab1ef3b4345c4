/**
 * Answering with a CLaRa generator, batched, greedy with a KV cache: from the documents'
 * memories (the model's use) or from the documents' own token embeddings in their place (the
 * uncompressed text baseline: the same generator, the same prompt, no compression).
 *
 * @module
 */
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import type { Tensor } from "../../core/tensor.ts";
import { batchMemory, batchText, type DocumentReader } from "./memory_batch.ts";

/** One question to answer: its documents (token ids) and its prompt (ends with the separator). */
export interface AnswerRequest {
  docs: number[][];
  prompt: number[];
}

/** How answers are generated. */
export interface AnswerOptions {
  /** Ends an answer (not returned). */
  eos: number;
  /** Longest answer in tokens. */
  maxNewTokens: number;
  /** Questions per generation batch. */
  batchSize: number;
  /** Called after each batch with the number answered so far. */
  onBatch?: (done: number) => void;
}

type Prefix = { prefix: Tensor; mask: number[][] };

async function answerWith(
  model: MemoryLM,
  requests: readonly AnswerRequest[],
  o: AnswerOptions,
  prefixOf: (batch: readonly AnswerRequest[]) => Prefix,
): Promise<number[][]> {
  model.eval();
  const out: number[][] = [];
  for (let start = 0; start < requests.length; start += o.batchSize) {
    const batch = requests.slice(start, start + o.batchSize);
    const { prefix, mask } = noGrad(() => tidy(() => prefixOf(batch)));
    try {
      const { tokens } = await model.generate(prefix, batch.map((r) => r.prompt), {
        eos: o.eos,
        maxNewTokens: o.maxNewTokens,
        memoryMask: mask,
      });
      out.push(...tokens);
    } finally {
      prefix.dispose();
    }
    o.onBatch?.(out.length);
  }
  return out;
}

/** Answers each request from the memories of its documents. */
export function answerFromMemories(
  model: MemoryLM,
  requests: readonly AnswerRequest[],
  o: AnswerOptions,
): Promise<number[][]> {
  return answerWith(model, requests, o, (batch) => {
    const m = batchMemory(model, batch.map((r) => r.docs), { frozen: true });
    return { prefix: m.memory, mask: m.maskRows };
  });
}

/** Most attention scores (rows · heads · T²) one text-baseline batch may hold: 64 MB of f32. */
const MAX_ATTENTION_SCORES = 16_000_000;

/**
 * The text baseline: each request's documents' tokens, concatenated and embedded, stand where
 * the memories would (right-padded and masked), read by the same generator. Its sequences are
 * long, so batches are cut to keep the attention scores under a GPU binding's size.
 */
export function answerFromText(
  model: MemoryLM,
  requests: readonly AnswerRequest[],
  o: AnswerOptions,
): Promise<number[][]> {
  const longest = Math.max(
    1,
    ...requests.map((r) => r.docs.reduce((n, d) => n + d.length, 0) + r.prompt.length),
  ) + o.maxNewTokens;
  const rows = Math.floor(MAX_ATTENTION_SCORES / (model.config.heads * longest * longest));
  const batchSize = Math.max(1, Math.min(o.batchSize, rows));
  return answerWith(model, requests, { ...o, batchSize }, (batch) => {
    const t = batchText(model, batch.map((r) => r.docs));
    return { prefix: t.memory, mask: t.maskRows };
  });
}

/** Answers each request as `reader` says: from its documents' memories or from their tokens. */
export function answerFrom(
  reader: DocumentReader,
  model: MemoryLM,
  requests: readonly AnswerRequest[],
  o: AnswerOptions,
): Promise<number[][]> {
  return reader === "text"
    ? answerFromText(model, requests, o)
    : answerFromMemories(model, requests, o);
}
