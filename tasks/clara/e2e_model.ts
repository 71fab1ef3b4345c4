/**
 * CLaRa stage 3's model: the stage-2 compressor + generator ({@linkcode MemoryLM}) with a third
 * LoRA adapter on the shared backbone, the **query reasoner** θ_qr, and its learned query tokens
 * `[Q0]…[Q(l−1)]`. The reasoner reads `question ⊕ [Q0..Q(l−1)]` causally; the final states at the
 * query positions are the query embeddings, in the space of the documents' memories. A candidate's
 * score is cos(mean query embedding, mean memory); the straight-through top-k of scores / τ picks
 * the memories the generator reads (`Z · M`), so the answer's next-token loss trains θ_qr through
 * the soft selection while the forward reads exactly the hard top-k.
 *
 * @module
 */
import { Module } from "../../core/nn/module.ts";
import { Embedding } from "../../core/nn/layers.ts";
import { LoRA } from "../../core/nn/lora.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { documentBatch } from "../../core/models/memory_batch.ts";
import { full, type Tensor, tensor } from "../../core/tensor.ts";
import * as ops from "../../core/ops/mod.ts";
import { copyBuffer } from "../../kernels/runtime.ts";

/** The adapter name of the query reasoner. */
export const REASONER = "reasoner";
/** Parameters stage 3 trains by default: the reasoner, its query tokens and the generator. */
export const E2E_TRAINABLE = /(\.lora_reasoner\.|^queries\.|\.lora_generator\.|^lm\.pointer\.)/;
/** The compressor's parameters (adapter + memory tokens), trained with `--unfreeze-compressor`. */
export const E2E_COMPRESSOR = /(\.lora_compressor\.|^lm\.memory_embeddings\.)/;

/**
 * How the top k is selected in training: `ste` the straight-through estimator (hard forward,
 * softmax gradient), `soft` the softmax mixture Z_soft alone (forward and backward), `hard` the
 * hard top k with no gradient to the scores (nothing trains the reasoner).
 */
export type Selection = "ste" | "soft" | "hard";
/** The selection modes, for flag parsing. */
export const SELECTIONS: readonly Selection[] = ["ste", "soft", "hard"];

/**
 * How stage 3 starts θ_qr and the query tokens: `compressor` copies the compressor's adapter and
 * its first l_q memory tokens (see {@linkcode ClaraE2E.startFromCompressor}), `fresh` draws a new
 * adapter (B = 0: the bare base LM) and new query vectors.
 */
export type ReasonerInit = "compressor" | "fresh";
/** The reasoner initialisations, for flag parsing. */
export const REASONER_INITS: readonly ReasonerInit[] = ["compressor", "fresh"];

/** How the query reasoner is shaped. */
export interface ReasonerOptions {
  /** Query tokens l_q. */
  queryTokens: number;
  /** LoRA rank of the reasoner. */
  rank: number;
}

/** Stage-2 memory model + query reasoner (see the module documentation). */
export class ClaraE2E extends Module {
  /** The compressor + generator (+ reasoner adapter on its backbone). */
  readonly lm: MemoryLM;
  /** Learned query-token vectors [l_q, D]. */
  readonly queries: Embedding;

  /** Wraps `lm` (taking ownership) and attaches a fresh reasoner adapter and query tokens. */
  constructor(lm: MemoryLM, readonly reasoner: ReasonerOptions) {
    super();
    if (!Number.isInteger(reasoner.queryTokens) || reasoner.queryTokens < 1) {
      throw new Error(`ClaraE2E: queryTokens must be an integer ≥ 1, got ${reasoner.queryTokens}`);
    }
    this.lm = this.child("lm", lm);
    const seed = lm.config.seed + 700;
    LoRA.wrap(lm.backbone, { rank: reasoner.rank, targets: "all", name: REASONER, seed });
    this.queries = this.child(
      "queries",
      new Embedding(reasoner.queryTokens, lm.config.dim, { std: 0.02, seed: seed + 1 }),
    );
  }

  /**
   * Starts the reasoner as the compressor: its adapter becomes a copy of the compressor's and its
   * query tokens the first l_q memory tokens, so a question's query embeddings begin as the
   * memory the compressor would give the question read as a document (plus its `[SEP]`), in the
   * space of the candidates' memories, instead of the base LM's states at fresh vectors.
   */
  startFromCompressor(): void {
    const table = this.lm.memoryEmbeddings;
    const l = this.reasoner.queryTokens;
    if (!table || table.count < l) {
      throw new Error(
        `ClaraE2E.startFromCompressor: needs ≥ ${l} learned memory tokens, the model has ${
          table?.count ?? 0
        }`,
      );
    }
    const copied = LoRA.copy(this.lm.backbone, this.lm.adapterNames.encoder, REASONER);
    if (copied === 0) throw new Error("ClaraE2E.startFromCompressor: no compressor adapter found");
    copyBuffer(table.weight.buffer, this.queries.weight.buffer, l * table.dim * 4);
  }

  /**
   * Query embeddings [B, l_q, D] of prompt ids (each question ⊕ `[SEP]`): the reasoner phase over
   * `question ⊕ [Q0..Q(l−1)]`, causal, each row positioned as if alone.
   */
  queryEmbeddings(prompts: readonly (readonly number[])[]): Tensor {
    const l = this.reasoner.queryTokens;
    const b = prompts.length;
    const batch = documentBatch(prompts, l, "after");
    const slots = tensor(Array.from({ length: b * l }, (_, i) => i % l), [b, l], "i32");
    const x = ops.concat([this.lm.embed(batch.ids), this.queries.forward(slots)], 1);
    const keys = ops.concat([batch.padding, full([b, l], 1)], 1);
    LoRA.use(this.lm, REASONER);
    const hidden = this.lm.backbone.forwardEmbeddings(x, keys, true, undefined, batch.positionIds);
    const width = x.shape[1];
    return ops.slice(hidden, 1, width - l, width);
  }

  /** Scores [B, N]: cos(mean query embedding [B, l_q, D], mean memories [B, N, D]). */
  scores(queries: Tensor, memoryMeans: Tensor): Tensor {
    const [b, , d] = queries.shape;
    return ops.cosineSimilarity(ops.mean(queries, 1).reshape([b, 1, d]), memoryMeans, -1);
  }

  /**
   * The selection Z [B, k, N] (`ste`: steTopK(scores, k, τ); `soft`: softTopK; `hard`: hardTopK)
   * and the selected memories Z · M [B, k · l, D] of memories [B, N, l, D].
   */
  select(
    scores: Tensor,
    memories: Tensor,
    k: number,
    tau: number,
    selection: Selection = "ste",
  ): { z: Tensor; memory: Tensor } {
    const [b, n, l, d] = memories.shape;
    const z = selection === "ste"
      ? ops.steTopK(scores, k, tau)
      : selection === "soft"
      ? ops.softTopK(scores, k, tau)
      : ops.hardTopK(scores, k);
    const picked = ops.matmul(z, memories.reshape([b, n, l * d]));
    return { z, memory: picked.reshape([b, k * l, d]) };
  }
}
