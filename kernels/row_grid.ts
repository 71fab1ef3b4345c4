/**
 * Dispatch grids for kernels that walk a matrix row by row: one workgroup row per matrix row (or,
 * for narrow rows, a power-of-two share of a workgroup per row), rows spread over the y and z
 * grid dimensions. A kernel gets its `row` and `col` by shifts and masks of built-ins, never by a
 * per-element division: CPU adapters (lavapipe) have no SIMD integer division, and a per-element
 * `i / cols`, `i % cols` made such kernels several times slower than their memory traffic.
 *
 * @module
 */
import { MAX_WORKGROUPS_PER_DIM } from "./runtime.ts";

/** Invocations per workgroup of a row-grid kernel. */
export const ROW_WG = 64;

/**
 * Rows one workgroup covers: 1 for rows of at least half a workgroup, else as many as fit (the
 * row width rounded up to a power of two). One row per workgroup left 7 of 8 lanes idle on
 * attention heads (8 texels a row) and 61 of 64 on a 3-class head, at thousands of workgroups.
 */
export function rowsPerGroup(cols: number): number {
  if (cols >= ROW_WG / 2) return 1;
  return ROW_WG / 2 ** Math.ceil(Math.log2(Math.max(1, cols)));
}

/** The built-ins {@linkcode rowIndexCode} reads, for the entry point's parameter list. */
export const ROW_BUILTINS = "@builtin(global_invocation_id) gid: vec3u, " +
  "@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32";

/**
 * WGSL that defines `row` and `col` for a grid from {@linkcode rowGrid} with `perGroup` rows per
 * workgroup, and returns early outside `rows` × `cols` (WGSL expressions, e.g. `p.rows`).
 */
export function rowIndexCode(perGroup: number, rows = "p.rows", cols = "p.cols"): string {
  const group = `(wid.y + wid.z * ${MAX_WORKGROUPS_PER_DIM}u)`;
  const lanes = ROW_WG / perGroup;
  const [row, col] = perGroup === 1
    ? [group, "gid.x"]
    : [`${group} * ${perGroup}u + (lid >> ${Math.log2(lanes)}u)`, `lid & ${lanes - 1}u`];
  return `let row = ${row};
  let col = ${col};
  if (row >= ${rows} || col >= ${cols}) { return; }`;
}

/** Workgroups covering `cols` columns by `rows` rows, `perGroup` rows each, over x, y and z. */
export function rowGrid(cols: number, rows: number, perGroup: number): [number, number, number] {
  const groups = Math.ceil(rows / perGroup);
  const y = Math.max(1, Math.min(groups, MAX_WORKGROUPS_PER_DIM));
  return [perGroup === 1 ? Math.ceil(cols / ROW_WG) : 1, y, Math.ceil(groups / y)];
}
