/**
 * The `absa` embedder: the mean memory of a trained Fast CLaRa ABSA encoder (`train:absa`'s
 * `best/`): each text is encoded as `[M0]…[Mm−1] [CLS] text [SEP]` (no aspect marked, as in ACSA)
 * and the final states at the m memory positions, the model's compressed memory, are averaged into
 * one vector. These are a trained compressor's output states, the "specialised embedding" set
 * against the raw LM's last layer.
 *
 * Its decoder is the seed's labelling idea: average the members' full memories ([m, D] each),
 * then let the model's reconstruction decoder (trained with L_rec to rebuild a sentence from its
 * memory) generate greedily from `[CLS]` until `[SEP]` (`MemoryLM.generate`, the shared KV-cache
 * generation): the text the decoder reads in the cluster's mean memory.
 *
 * @module
 */
import { normalizeRows } from "../../core/cluster/points.ts";
import * as device from "../../core/device.ts";
import { tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { Progress } from "../../core/io/progress.ts";
import { loadAbsaModel } from "../absa/model_dir.ts";
import { type AbsaSpecialIds, absaSpecialIds, tokenizeWithSpans } from "../absa/examples.ts";
import type { FastClaraAbsa } from "../../core/models/fast_clara_absa.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { DEFAULT_BATCH_LIMITS, lengthBatches } from "./length_batches.ts";
import type { Embedding, EmbedOptions, GroupDecoder } from "./embedders.ts";

/** Embeds `inputs` as the mean memory of the ABSA model in `options.absaDir`. */
export async function embedAbsaMemory(
  inputs: readonly string[],
  options: EmbedOptions,
): Promise<Embedding> {
  const dir = options.absaDir;
  if (!dir) throw new Error("--embedder absa needs --absa DIR (a train:absa best/ directory)");
  await device.init();
  const { model, run, tokenizer } = await loadAbsaModel(dir);
  if (run.adapters.length > 0) {
    model.dispose();
    throw new Error(`${dir}: a model with LoRA adapters (${run.adapters}); pass the base model`);
  }
  model.eval();
  const special = absaSpecialIds(tokenizer, run.model.memoryTokens);
  const m = special.memory.length, dim = run.model.dim;
  const encode = (s: string) => tokenizer.encode(s, false);
  let truncated = 0;
  const tokens = inputs.map((t) => {
    const all = tokenizeWithSpans(t, [], encode).tokens;
    if (all.length > run.maxTokens) truncated++;
    return all.slice(0, run.maxTokens);
  });
  const memories = new Float32Array(inputs.length * m * dim);
  const progress = new Progress(inputs.length, { label: "embed absa" });
  let done = 0;
  const limits = { ...DEFAULT_BATCH_LIMITS, ...options.batchLimits };
  for (const rows of lengthBatches(tokens.map((t) => m + 2 + t.length), limits)) {
    const width = m + 2 + Math.max(...rows.map((r) => tokens[r].length));
    const ids = new Int32Array(rows.length * width).fill(special.pad);
    const mask = new Float32Array(rows.length * width);
    rows.forEach((r, b) => {
      const row = [...special.memory, special.cls, ...tokens[r], special.sep];
      ids.set(row, b * width);
      mask.fill(1, b * width, b * width + row.length);
    });
    const memory = noGrad(() =>
      tidy(() => {
        const shape = [rows.length, width];
        const slots = tensor(new Int32Array(rows.length * width), shape, "i32");
        return model.encode(tensor(ids, shape, "i32"), tensor(mask, shape), { slots }).memory;
      })
    );
    const values = await memory.data();
    memory.dispose();
    rows.forEach((r, b) =>
      memories.set(values.subarray(b * m * dim, (b + 1) * m * dim), r * m * dim)
    );
    done += rows.length;
    if (done < inputs.length) progress.update(done);
  }
  progress.finish();
  const mean = new Float32Array(inputs.length * dim);
  for (let i = 0; i < inputs.length; i++) {
    for (let j = 0; j < m; j++) {
      for (let d = 0; d < dim; d++) mean[i * dim + d] += memories[(i * m + j) * dim + d] / m;
    }
  }
  return {
    points: normalizeRows({ n: inputs.length, dim, data: mean }),
    empty: 0,
    decoder: memoryDecoder(model, tokenizer, special, memories, dim),
    note: `mean of the ${m} memory states of ${dir} (dim ${dim}; ${truncated} texts cut to ` +
      `${run.maxTokens} tokens)`,
  };
}

/** Greedy reconstruction from each group's mean memory, all groups in one batch per step. */
function memoryDecoder(
  model: FastClaraAbsa,
  tokenizer: TextTokenizer,
  special: AbsaSpecialIds,
  memories: Float32Array,
  dim: number,
  maxNewTokens = 24,
): GroupDecoder {
  const m = special.memory.length;
  return {
    kind: "reconstruction of the mean memory by the ABSA decoder",
    dispose: () => model.dispose(),
    async decode(groups) {
      const g = groups.length;
      const mean = new Float32Array(g * m * dim);
      groups.forEach((members, k) => {
        for (const i of members) {
          for (let x = 0; x < m * dim; x++) {
            mean[k * m * dim + x] += memories[i * m * dim + x] / members.length;
          }
        }
      });
      const memory = tensor(mean, [g, m, dim]);
      try {
        const { tokens } = await model.generate(memory, groups.map(() => [special.cls]), {
          eos: special.sep,
          maxNewTokens,
          pad: special.pad,
        });
        return tokens.map((row) => tokenizer.decode(row, { skipSpecialTokens: true }));
      } finally {
        memory.dispose();
      }
    },
  };
}
