/**
 * The shuffled-memory control: every row keeps its prompt and target but reads the documents of
 * the next row (the last reads the first's). A model whose score does not drop under it answers
 * from the prompt alone, not from the memories.
 *
 * @module
 */

/** `rows` with each row's documents replaced by the next row's (cyclically). */
export function withNextDocuments<T extends { docs: unknown }>(rows: readonly T[]): T[] {
  return rows.map((r, i) => ({ ...r, docs: rows[(i + 1) % rows.length].docs }));
}
