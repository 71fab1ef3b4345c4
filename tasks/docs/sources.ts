/**
 * The source files of an ingest run: every file under the input directory, recursively, in a
 * fixed (sorted) order so that two runs over the same tree process it identically. Hidden files
 * and directories, links to directories, and the output directory when it lies inside the input,
 * are left out.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A file to ingest. */
export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the input directory, with "/" separators: the `source` of its chunks. */
  rel: string;
  size: number;
}

/** Lists the files under `inDir`, sorted by relative path, skipping `excludeDir`. */
export async function listSources(inDir: string, excludeDir?: string): Promise<SourceFile[]> {
  const root = await Deno.realPath(inDir);
  const exclude = excludeDir ? await Deno.realPath(excludeDir).catch(() => undefined) : undefined;
  const out: SourceFile[] = [];
  const walk = async (dir: string, rel: string) => {
    if (dir === exclude) return;
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(".")) continue;
      const path = `${dir}/${entry.name}`;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(path, childRel);
      else if (entry.isFile || entry.isSymlink) {
        // A link to a file is followed; a link to a directory is not (no cycles).
        const stat = await Deno.stat(path).catch(() => undefined);
        if (stat?.isFile) out.push({ path, rel: childRel, size: stat.size });
      }
    }
  };
  await walk(root, "");
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Hex SHA-256 of `data`. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
