/**
 * Whole-directory replacement for checkpoints: the new contents are written into a `.partial`
 * sibling and swapped in by renames, so a kill at any point leaves either the old or the new
 * directory complete (a kill between the two renames leaves it as `.previous`, which
 * {@linkcode recoverDirectory} puts back).
 *
 * @module
 */

/** Whether `path` exists. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Puts `dir.previous` back as `dir` when a swap was killed between its two renames. */
export async function recoverDirectory(dir: string): Promise<void> {
  if (!(await pathExists(dir)) && (await pathExists(`${dir}.previous`))) {
    await Deno.rename(`${dir}.previous`, dir);
  }
}

/** Replaces directory `dir` by what `write` puts into the fresh directory it is given. */
export async function swapInDirectory(
  dir: string,
  write: (partial: string) => Promise<void>,
): Promise<void> {
  const partial = `${dir}.partial`, previous = `${dir}.previous`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  await write(partial);
  if (await pathExists(dir)) {
    // A kill between an earlier swap and its clean-up leaves a stale `previous` beside `dir`.
    await Deno.remove(previous, { recursive: true }).catch(() => {});
    await Deno.rename(dir, previous);
  }
  await Deno.rename(partial, dir);
  await Deno.remove(previous, { recursive: true }).catch(() => {});
}
