/**
 * One switch for the engine's optional fast paths, so that a bench can time a step with and
 * without them in one process: gradients accumulated inside the kernel that produces them
 * (`embedding`'s scatter-add adds into the gradient summed so far instead of writing a table that
 * is then added) and matmul's cache of packed B operands. On by default; both paths compute the
 * same values (the fused accumulation the same bits).
 *
 * @module
 */

let enabled = true;

/** Turns the fast paths on (default) or off. */
export function setFastPaths(on: boolean): void {
  enabled = on;
}

/** Whether the fast paths are on. */
export function fastPathsEnabled(): boolean {
  return enabled;
}
