/**
 * Names for a cluster (or a group of clusters): the most central member's text (highest cosine to
 * the group's mean), the top TF-IDF terms, and with a GPU embedder its decoder's text for the
 * group's mean state (the LM head's words, or the ABSA decoder's reconstruction of the mean
 * memory).
 *
 * @module
 */
import { clusterMeans, dot, type Points } from "../../core/cluster/points.ts";
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
  /** With `lm` or `absa`: the embedder's decoder on the group's mean state (GroupDecoder). */
  decoded?: string;
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
  if (embedding.decoder) {
    const decoded = await embedding.decoder.decode(groups);
    decoded.forEach((d, g) => labels[g].decoded = d);
  }
  return labels;
}
