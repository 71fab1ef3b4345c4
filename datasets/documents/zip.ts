/**
 * The one place that knows the zip library (npm:fflate): unpacks a docx/pptx archive in memory,
 * refusing truncated or corrupt archives and archives that would inflate past a size limit.
 *
 * @module
 */
import { unzipSync } from "fflate";
import { DocumentSkipError } from "./types.ts";

/** Uncompressed bytes one archive may hold (guards against zip bombs). */
export const MAX_UNZIPPED_BYTES = 512 * 1024 * 1024;

/** Entries by path inside the archive. */
export type ZipEntries = Record<string, Uint8Array>;

/** Unpacks `bytes`; `file` names the archive in the skip reason. */
export function unzip(file: string, bytes: Uint8Array): ZipEntries {
  let total = 0;
  try {
    return unzipSync(bytes, {
      filter: (entry) => {
        total += entry.originalSize;
        if (total > MAX_UNZIPPED_BYTES) {
          throw new Error(`it would inflate to over ${MAX_UNZIPPED_BYTES >> 20} MiB`);
        }
        return true;
      },
    });
  } catch (e) {
    throw new DocumentSkipError(
      file,
      `corrupt or truncated zip archive (${(e as Error).message})`,
    );
  }
}
