/**
 * Initialises the token embeddings of a memory model (the ABSA model) from GloVe 100-d vectors (the only pretrained
 * knowledge reachable offline). Found words get their vector, rescaled to a small standard
 * deviation so they sit on the same scale as the learned position table; other rows keep their
 * random initialisation. When dim > 100 the extra columns stay random; when dim < 100 the vector
 * is cut. A model with `frozenWordVectors` gets the vectors in its frozen table instead (extra
 * columns zero), and the learned rows of found words start at zero: the learned table is then a
 * correction on top of GloVe.
 *
 * @module
 */
import type { MemoryLM } from "../../core/models/memory_lm.ts";
import { loadWordVectors } from "../../datasets/glove.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { vocabularyOfTokenizerJson } from "../../datasets/tokenizer_json.ts";

/** Target per-element standard deviation of the pretrained rows. */
const GLOVE_ROW_STD = 0.1;

/** Copies GloVe rows into the embedding table; returns how many rows were found. */
export async function initEmbeddingsFromGlove(
  model: MemoryLM,
  tokenizer: TextTokenizer,
  source: string | undefined,
  cacheDir: string,
): Promise<number> {
  const vocab = vocabularyOfTokenizerJson(tokenizer.json);
  const vectors = await loadWordVectors(vocab, {
    source,
    cachePath: `${cacheDir}/glove.safetensors`,
  });
  const learned = model.backbone.embed.tokens.weight;
  const weight = model.wordVectors?.weight ?? learned;
  const dim = weight.shape[1];
  const table = (await weight.data()) as Float32Array;
  const learnedTable = model.wordVectors ? (await learned.data()) as Float32Array : null;
  let sum = 0, sumSq = 0, count = 0;
  vectors.found.forEach((hit, i) => {
    if (!hit) return;
    for (let j = 0; j < vectors.dim; j++) {
      const x = vectors.matrix[i * vectors.dim + j];
      sum += x;
      sumSq += x * x;
      count++;
    }
  });
  const std = Math.sqrt(
    Math.max(1e-12, sumSq / Math.max(1, count) - (sum / Math.max(1, count)) ** 2),
  );
  const scale = GLOVE_ROW_STD / std;
  const width = Math.min(dim, vectors.dim);
  vectors.found.forEach((hit, i) => {
    if (!hit) return;
    for (let j = 0; j < width; j++) {
      table[i * dim + j] = vectors.matrix[i * vectors.dim + j] * scale;
    }
    learnedTable?.fill(0, i * dim, (i + 1) * dim);
  });
  weight.write(table);
  if (learnedTable) learned.write(learnedTable);
  return vectors.hits;
}
