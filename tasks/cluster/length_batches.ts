/**
 * The batches the GPU embedders run: texts sorted by token count (ties by index), cut into
 * batches of at most `maxRows` rows and `maxTokens` padded tokens (rows × the longest row), and
 * never across a change of `key` (the CLaRa compressor's memory count, which must be one per
 * batch). Sorted rows waste little on padding; a token budget instead of a fixed row count
 * gives short texts (questions) more rows per batch and keeps long ones' working set bounded.
 *
 * @module
 */

/** Limits of {@linkcode lengthBatches}. */
export interface BatchLimits {
  /** Most rows per batch. */
  maxRows: number;
  /** Most padded tokens (rows × longest) per batch; a longer single row still gets its batch. */
  maxTokens: number;
}

/**
 * Default limits: 4 096 padded tokens (32 rows of 128), at most 512 rows. On lavapipe larger
 * batches were slower (16 384 tokens: 18 % on Wikipedia chunks, 2× on 2Wiki questions, against
 * 4 096), the kernels' working set outgrowing the caches; smaller ones no faster.
 */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxRows: 512, maxTokens: 4096 };

/**
 * Index batches over texts of token counts `lengths` (see the module documentation); every index
 * appears once. `key(i)`, when given, must not decrease with the length.
 */
export function lengthBatches(
  lengths: readonly number[],
  limits: BatchLimits,
  key?: (i: number) => number,
): number[][] {
  if (!(limits.maxRows >= 1 && limits.maxTokens >= 1)) {
    throw new Error(
      `lengthBatches: maxRows and maxTokens must be ≥ 1, got ${JSON.stringify(limits)}`,
    );
  }
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const rows = current.length + 1;
    const full = rows > limits.maxRows || rows * Math.max(1, lengths[i]) > limits.maxTokens;
    if (current.length > 0 && (full || (key && key(i) !== key(current[0])))) {
      batches.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
