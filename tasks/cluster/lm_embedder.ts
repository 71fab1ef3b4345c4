/**
 * The `lm` embedder: the mean over tokens of the last layer (after the final LayerNorm) of a CLaRa
 * base LM directory (`train:clara --stage lm`), run on the GPU in length-sorted batches under a
 * token budget (length_batches.ts) with one readback per batch; the LM head is never run. These are the LM's output states, not its input embeddings. It is a raw
 * language model, not a trained memory compressor: its vectors answer "what does the raw last
 * layer give", the baseline a compressor's mean memory must beat.
 *
 * Its decoder is a "logit lens": the LM head applied to a group's mean state, with the logits of
 * the collection's mean subtracted so that words frequent everywhere drop out. A base LM is not
 * trained to decode a pooled state, so these words are a probe, not a summary.
 *
 * @module
 */
import { normalizeRows, type Points } from "../../core/cluster/points.ts";
import { loadLmModel } from "../clara/model_dir.ts";
import * as device from "../../core/device.ts";
import type { DecoderOnly } from "../../core/nn/stacks.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { Progress } from "../../core/io/progress.ts";
import { DEFAULT_BATCH_LIMITS, lengthBatches } from "./length_batches.ts";
import type { Embedding, EmbedOptions, GroupDecoder } from "./embedders.ts";

/** Mean of the rows of `raw` listed in each group, `[groups, dim]` row-major. */
export function groupMeans(raw: Points, groups: readonly (readonly number[])[]): Float32Array {
  const means = new Float32Array(groups.length * raw.dim);
  groups.forEach((members, g) => {
    for (const i of members) {
      for (let d = 0; d < raw.dim; d++) {
        means[g * raw.dim + d] += raw.data[i * raw.dim + d] / members.length;
      }
    }
  });
  return means;
}

/** Embeds `inputs` with the base LM of `options.lmDir`. */
export async function embedLm(
  inputs: readonly string[],
  options: EmbedOptions,
): Promise<Embedding> {
  if (!options.lmDir) {
    throw new Error("--embedder lm needs --lm DIR (a train:clara --stage lm directory)");
  }
  await device.init();
  const { model, run, tokenizer } = await loadLmModel(options.lmDir);
  model.eval();
  const maxLength = run.model.maxLength;
  const pad = tokenizer.tokenId("[PAD]");
  let empty = 0, truncated = 0;
  const ids = inputs.map((t) => {
    const all = tokenizer.encode(t, false);
    if (all.length > maxLength) truncated++;
    return all.slice(0, maxLength);
  });
  const dim = run.model.dim;
  const raw = new Float32Array(inputs.length * dim);
  const progress = new Progress(inputs.length, { label: "embed lm" });
  let done = 0;
  const limits = { ...DEFAULT_BATCH_LIMITS, ...options.batchLimits };
  for (const rows of lengthBatches(ids.map((r) => r.length), limits)) {
    const width = Math.max(1, ...rows.map((r) => ids[r].length));
    const flat = new Int32Array(rows.length * width).fill(pad);
    rows.forEach((r, b) => flat.set(ids[r], b * width));
    // Causal attention with right padding: real tokens never attend to the padding after them.
    const hidden = noGrad(() =>
      tidy(() => model.hidden(model.embed(tensor(flat, [rows.length, width], "i32"))))
    );
    const states = await hidden.data();
    hidden.dispose();
    rows.forEach((r, b) => {
      const len = ids[r].length;
      if (len === 0) {
        empty++;
        return;
      }
      for (let t = 0; t < len; t++) {
        const o = (b * width + t) * dim;
        for (let d = 0; d < dim; d++) raw[r * dim + d] += states[o + d] / len;
      }
    });
    done += rows.length;
    if (done < inputs.length) progress.update(done);
  }
  progress.finish();
  const rawPoints = { n: inputs.length, dim, data: raw };
  return {
    points: normalizeRows(rawPoints),
    empty,
    decoder: lmHeadDecoder(model, tokenizer, rawPoints),
    note: `mean last-layer state of ${options.lmDir} (dim ${dim}; ${truncated} texts cut to ` +
      `${maxLength} tokens)`,
  };
}

/** The logit-lens decoder: the 5 whole words whose logits the group's mean state raises most. */
function lmHeadDecoder(model: DecoderOnly, tokenizer: TextTokenizer, raw: Points): GroupDecoder {
  return {
    kind: "LM head words (mean state against the collection's mean)",
    dispose: () => model.dispose(),
    async decode(groups) {
      // The last row is the mean of every text: the baseline the groups' logits are compared with.
      const rows = [...groups, Array.from({ length: raw.n }, (_, i) => i)];
      const logits = noGrad(() =>
        tidy(() => model.logits(tensor(groupMeans(raw, rows), [1, rows.length, raw.dim])))
      );
      const values = await logits.data();
      logits.dispose();
      const vocab = model.vocabSize;
      const base = values.subarray(groups.length * vocab, (groups.length + 1) * vocab);
      return groups.map((members, g) => {
        if (members.length === raw.n) return ""; // the whole collection: nothing to contrast with
        const row = values.subarray(g * vocab, (g + 1) * vocab);
        const gain = (id: number) => row[id] - base[id];
        const out: string[] = [];
        for (const id of [...row.keys()].sort((a, b) => gain(b) - gain(a))) {
          const piece = tokenizer.decode([id]);
          // Whole words of two or more letters only: specials, pieces and punctuation say nothing.
          if (/^[\p{L}][\p{L}\p{N}]+$/u.test(piece) && !out.includes(piece)) out.push(piece);
          if (out.length === 5) break;
        }
        return out.join(", ");
      });
    },
  };
}
