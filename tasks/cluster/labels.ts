/**
 * Names for a cluster (or a group of clusters): the most central member's text (highest cosine to
 * the group's mean), the top TF-IDF terms, and with the `lm` embedder the words the base LM's
 * output head ranks highest for the group's mean last-layer state ("logit lens": the LM decodes
 * the mean state; a base LM is not trained to decode a pooled state, so these words are a probe,
 * not a summary).
 *
 * @module
 */
import { clusterMeans, dot, type Points } from "../../core/cluster/points.ts";
import { tensor } from "../../core/tensor.ts";
import { noGrad } from "../../core/autograd.ts";
import { tidy } from "../../core/scope.ts";
import type { Embedding } from "./embedders.ts";
import { type TfidfMatrix, topTerms } from "./tfidf.ts";

/** The labels of one group. */
export interface ClusterLabel {
  /** Index of the member nearest the mean. */
  centralIndex: number;
  /** Its text, cut to 160 characters. */
  central: string;
  /** Top TF-IDF terms. */
  terms: string[];
  /** With `lm`: the LM head's top words for the mean state. */
  decoded?: string[];
  /** With an endpoint: the LLM's name for the group. */
  llm?: string;
}

/** Index of the member of `members` with the highest cosine to their mean (unit rows). */
export function centralMember(points: Points, members: readonly number[]): number {
  const labels = new Int32Array(points.n).fill(-1);
  for (const i of members) labels[i] = 0;
  const { means } = clusterMeans(points, labels, 1);
  let best = members[0], bestCos = -Infinity;
  for (const i of members) {
    const c = dot(points, i, means, 0);
    if (c > bestCos) {
      bestCos = c;
      best = i;
    }
  }
  return best;
}

/** Cuts `text` to `max` characters at a word boundary, with an ellipsis. */
export function shorten(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(" "), max / 2))}…`;
}

/** Labels every group in `groups` (lists of text indices); one GPU readback for all LM labels. */
export async function labelGroups(
  groups: readonly (readonly number[])[],
  texts: readonly string[],
  embedding: Embedding,
  matrix: TfidfMatrix,
): Promise<ClusterLabel[]> {
  const labels: ClusterLabel[] = groups.map((members) => {
    const centralIndex = centralMember(embedding.points, members);
    return {
      centralIndex,
      central: shorten(texts[centralIndex]),
      terms: topTerms(matrix, members),
    };
  });
  if (embedding.lm) {
    const decoded = await decodeMeans(embedding.lm, groups);
    decoded.forEach((d, g) => labels[g].decoded = d);
  }
  return labels;
}

/** Top words of the LM head for each group's mean raw state, against the mean of all texts. */
async function decodeMeans(
  lm: NonNullable<Embedding["lm"]>,
  groups: readonly (readonly number[])[],
  count = 5,
): Promise<string[][]> {
  const { raw, model, tokenizer } = lm;
  // The last row is the mean of every text: the baseline the groups' logits are compared with.
  const rows = [...groups, Array.from({ length: raw.n }, (_, i) => i)];
  const means = new Float32Array(rows.length * raw.dim);
  rows.forEach((members, g) => {
    for (const i of members) {
      for (let d = 0; d < raw.dim; d++) {
        means[g * raw.dim + d] += raw.data[i * raw.dim + d] / members.length;
      }
    }
  });
  const logits = noGrad(() => tidy(() => model.logits(tensor(means, [1, rows.length, raw.dim]))));
  const values = await logits.data();
  logits.dispose();
  const vocab = model.vocabSize;
  const base = values.subarray(groups.length * vocab, (groups.length + 1) * vocab);
  return groups.map((members, g) => {
    if (members.length === raw.n) return []; // the whole collection: nothing to contrast with
    const row = values.subarray(g * vocab, (g + 1) * vocab);
    const gain = (id: number) => row[id] - base[id];
    const ids = [...row.keys()].sort((a, b) => gain(b) - gain(a));
    const out: string[] = [];
    for (const id of ids) {
      const piece = tokenizer.decode([id]);
      // Whole words of two or more letters only: specials, pieces and punctuation say nothing.
      if (/^[\p{L}][\p{L}\p{N}]+$/u.test(piece) && !out.includes(piece)) out.push(piece);
      if (out.length === count) break;
    }
    return out;
  });
}
