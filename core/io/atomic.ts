/**
 * Atomic writes. A file is written to a temporary sibling, flushed and renamed over its path; a
 * directory is built as a `.partial` sibling and swapped in by two renames (the old one moved to
 * `.previous` first, removed after), so a kill at any moment leaves the old version or the new
 * one complete. {@linkcode recoverDirectory} finishes a swap killed between its two renames.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The temporary-file names {@linkcode writeFileAtomic} uses (left behind only by a kill). */
export const TEMP_FILE_PATTERN: RegExp = /\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * Writes `bytes` to `path` atomically: to a temporary file in the same directory, flushed, then
 * renamed over `path`, so readers see the old file or the new one, never a partial one.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.byteLength) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/** Writes `text` as UTF-8 to `path` atomically. */
export async function writeTextFileAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, encoder.encode(text));
}

/** Writes `value` as JSON (indented by `indent` spaces, 0 for one line) plus a newline, atomically. */
export async function writeJsonAtomic(path: string, value: unknown, indent = 2): Promise<void> {
  await writeTextFileAtomic(path, JSON.stringify(value, null, indent || undefined) + "\n");
}

/** Whether `path` exists (anything but NotFound is rethrown). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Puts `dir.previous` back as `dir` when a {@linkcode replaceDirectory} was killed between its two
 * renames (a stale `dir.partial` is left for the next replacement to remove). Returns whether
 * `dir` exists afterwards.
 */
export async function recoverDirectory(dir: string): Promise<boolean> {
  if (await pathExists(dir)) return true;
  if (!(await pathExists(`${dir}.previous`))) return false;
  await Deno.rename(`${dir}.previous`, dir);
  return true;
}

/**
 * Replaces directory `dir` (created if absent) by what `write` puts into the fresh, empty directory
 * it is given (`dir.partial`): `dir` is moved to `dir.previous`, the new one renamed into place,
 * the previous one removed. Readers see the old directory or the new one, whole.
 */
export async function replaceDirectory(
  dir: string,
  write: (staging: string) => Promise<void>,
): Promise<void> {
  const partial = `${dir}.partial`, previous = `${dir}.previous`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  await Deno.mkdir(partial, { recursive: true });
  await write(partial);
  if (await pathExists(dir)) {
    // A kill between an earlier swap and its clean-up leaves a stale `previous` beside `dir`.
    await Deno.remove(previous, { recursive: true }).catch(() => {});
    await Deno.rename(dir, previous);
  }
  await Deno.rename(partial, dir);
  await Deno.remove(previous, { recursive: true }).catch(() => {});
}
