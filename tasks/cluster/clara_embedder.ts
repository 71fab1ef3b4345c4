/**
 * The `clara` embedder: the mean of the memory vectors a trained CLaRa compressor (a
 * `train:clara --stage pretrain` directory, or `--stage instruct`) writes for each text. A text
 * is cut to the model's document budget and compressed alone, as in training (l =
 * ⌈tokens / rate⌉ memory tokens after the document, causal); the compressor's final states at
 * those l positions, its output, are averaged into one vector. Texts run in length-sorted
 * batches of one l each under no gradient, one readback per batch, through `MemoryLM.compress`,
 * whose last layer computes the memory positions only (a third less work at 96 + 24 tokens), on
 * a copy of the model with the compressor's LoRA merged into the base weights.
 *
 * Its decoder is the seed's labelling idea on CLaRa's own generator: the members' memories are
 * averaged slot by slot (a group of texts with different l gets the median l of its members;
 * slot j averages the members that have it), and the generator reads that mean memory behind the
 * reconstruction prompt it was trained on and writes greedily until `[SEP]`.
 *
 * @module
 */
import { normalizeRows } from "../../core/cluster/points.ts";
import * as device from "../../core/device.ts";
import { tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import { Progress } from "../../core/io/progress.ts";
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { LoRA } from "../../core/nn/lora.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { loadMemoryModel } from "../clara/memory_dir.ts";
import { claraSpecial, decodeAnswer, documentIds, promptIds } from "../clara/tokens.ts";
import { RECONSTRUCT_PROMPT } from "../clara/scp_data.ts";
import { DEFAULT_BATCH_LIMITS, lengthBatches } from "./length_batches.ts";
import type { Embedding, EmbedOptions, GroupDecoder } from "./embedders.ts";

/** Each text's memory [l_i, D], stored back to back. */
export interface ClaraMemories {
  data: Float32Array;
  /** Start of text i's memory in `data` (in vectors). */
  offset: Int32Array;
  /** l_i of text i. */
  count: Int32Array;
  dim: number;
}

/** Embeds `inputs` as the mean memory of the CLaRa memory model in `options.claraDir`. */
export async function embedClaraMemory(
  inputs: readonly string[],
  options: EmbedOptions,
): Promise<Embedding> {
  const dir = options.claraDir;
  if (!dir) {
    throw new Error(
      "--embedder clara needs --clara DIR (a train:clara --stage pretrain directory)",
    );
  }
  await device.init();
  const { model: encoder, run, tokenizer } = await loadMemoryModel(dir);
  encoder.eval();
  // This copy has the compressor adapter merged into its base weights (one product per Linear
  // instead of three: 13–28 % faster at 32 × (96 + 24)); the generator needs the unmerged base.
  LoRA.merge(encoder, encoder.adapterNames.encoder);
  LoRA.use(encoder, null);
  const budget = run.memory.docTokens, dim = run.base.dim;
  // One token past the budget tells a cut text from one that fits, with one tokenization.
  const docs = inputs.map((t) => documentIds(tokenizer, t, budget + 1));
  const truncated = docs.filter((d) => d.length > budget).length;
  for (let i = 0; i < docs.length; i++) docs[i] = docs[i].slice(0, budget);
  const count = Int32Array.from(docs, (d) => encoder.memoryCount(d.length));
  const offset = new Int32Array(inputs.length);
  for (let i = 1; i < inputs.length; i++) offset[i] = offset[i - 1] + count[i - 1];
  const memories: ClaraMemories = {
    data: new Float32Array((offset.at(-1)! + count.at(-1)!) * dim),
    offset,
    count,
    dim,
  };
  const batches = lengthBatches(
    docs.map((d) => d.length),
    { ...DEFAULT_BATCH_LIMITS, ...options.batchLimits },
    (i) => count[i],
  );
  const progress = new Progress(inputs.length, { label: "embed clara" });
  let done = 0;
  try {
    for (const rows of batches) {
      const l = count[rows[0]];
      const memory = noGrad(() => tidy(() => encoder.compress(rows.map((r) => docs[r]), l)));
      const values = await memory.data();
      memory.dispose();
      rows.forEach((r, b) =>
        memories.data.set(values.subarray(b * l * dim, (b + 1) * l * dim), offset[r] * dim)
      );
      done += rows.length;
      if (done < inputs.length) progress.update(done);
    }
    progress.finish();
  } finally {
    encoder.dispose();
  }
  const { model } = await loadMemoryModel(dir);
  model.eval();
  const mean = new Float32Array(inputs.length * dim);
  for (let i = 0; i < inputs.length; i++) {
    for (let j = 0; j < count[i]; j++) {
      const o = (offset[i] + j) * dim;
      for (let d = 0; d < dim; d++) mean[i * dim + d] += memories.data[o + d] / count[i];
    }
  }
  const rate = run.memory.compressionRate;
  return {
    points: normalizeRows({ n: inputs.length, dim, data: mean }),
    empty: 0,
    decoder: reconstructionDecoder(model, tokenizer, memories),
    note: `mean memory of the ${run.stage} compressor ${dir} (dim ${dim}, ${
      rate ? `1 memory per ${rate} tokens, at most ${run.memory.memoryTokens}` : run.memory
        .memoryTokens + " memories"
    }; ${truncated} texts cut to ${budget} tokens)`,
  };
}

/**
 * The mean memory of each group [g, L, D] (L the largest of the groups' median l, each group's
 * rows after its own length masked) and its mask rows.
 */
export function groupMemories(
  memories: ClaraMemories,
  groups: readonly (readonly number[])[],
): { data: Float32Array; slots: number; mask: number[][] } {
  const { dim } = memories;
  const lengths = groups.map((members) => {
    const ls = members.map((i) => memories.count[i]).sort((a, b) => a - b);
    return ls[Math.floor((ls.length - 1) / 2)];
  });
  const slots = Math.max(...lengths);
  const data = new Float32Array(groups.length * slots * dim);
  groups.forEach((members, g) => {
    for (let j = 0; j < lengths[g]; j++) {
      const holders = members.filter((i) => memories.count[i] > j);
      for (const i of holders) {
        const o = (memories.offset[i] + j) * dim, to = (g * slots + j) * dim;
        for (let d = 0; d < dim; d++) data[to + d] += memories.data[o + d] / holders.length;
      }
    }
  });
  const mask = lengths.map((l) => Array.from({ length: slots }, (_, j) => (j < l ? 1 : 0)));
  return { data, slots, mask };
}

/** Greedy reconstruction of each group's mean memory, all groups in one generation batch. */
function reconstructionDecoder(
  model: MemoryLM,
  tokenizer: TextTokenizer,
  memories: ClaraMemories,
  maxNewTokens = 24,
): GroupDecoder {
  const special = claraSpecial(tokenizer);
  const prompt = promptIds(tokenizer, RECONSTRUCT_PROMPT);
  return {
    kind: "reconstruction of the mean memory by the CLaRa generator",
    dispose: () => model.dispose(),
    async decode(groups) {
      const { data, slots, mask } = groupMemories(memories, groups);
      const memory = tensor(data, [groups.length, slots, memories.dim]);
      try {
        const { tokens } = await model.generate(memory, groups.map(() => prompt), {
          eos: special.sep,
          maxNewTokens,
          pad: special.pad,
          memoryMask: mask,
        });
        return tokens.map((row) => decodeAnswer(tokenizer, row));
      } finally {
        memory.dispose();
      }
    },
  };
}
