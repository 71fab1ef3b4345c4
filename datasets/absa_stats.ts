/**
 * Counts over an ABSA dataset: sentences, aspects, aspect-less sentences, label distribution.
 *
 * @module
 */
import type { AbsaDataset, AbsaFormat } from "./absa_xml.ts";

/** Counts for one file. `aspects` counts terms where a file has them, else categories. */
export interface AbsaStats {
  /** {@linkcode AbsaDataset.file} of the dataset. */
  file: string;
  /** {@linkcode AbsaDataset.format} of the dataset. */
  format: AbsaFormat;
  /** Number of sentences. */
  sentences: number;
  /** Number of aspect terms, or of categories in a file without terms. */
  aspects: number;
  /** Sentences with neither terms nor categories. */
  sentencesWithoutAspects: number;
  /** Label → count over the aspects counted in `aspects`. */
  labels: Record<string, number>;
  /** Present only when a file carries both terms and categories (SemEval-2014 restaurants). */
  categories?: number;
}

/** Computes {@linkcode AbsaStats} for a dataset. */
export function absaStats(data: AbsaDataset): AbsaStats {
  const terms = data.sentences.flatMap((s) => s.terms);
  const categories = data.sentences.flatMap((s) => s.categories);
  const counted = terms.length > 0 ? terms : categories;
  const labels: Record<string, number> = {};
  for (const a of counted) labels[a.polarity] = (labels[a.polarity] ?? 0) + 1;
  const stats: AbsaStats = {
    file: data.file,
    format: data.format,
    sentences: data.sentences.length,
    aspects: counted.length,
    sentencesWithoutAspects:
      data.sentences.filter((s) => s.terms.length + s.categories.length === 0)
        .length,
    labels,
  };
  if (terms.length > 0 && categories.length > 0) stats.categories = categories.length;
  return stats;
}
