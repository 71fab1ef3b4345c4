/**
 * `deno task data:fetch [--dest DIR] [--base-url URL] [--force]`: downloads the official MAMS
 * train/val/test XML into `./data` (or DIR).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fetchFiles, type FetchResult, MAMS_BASE_URL } from "../datasets/fetch.ts";

/** Runs the command on `args`. */
export async function dataFetch(
  args: string[],
  log: (message: string) => void = console.log,
): Promise<FetchResult[]> {
  const { values } = parseArgs({
    args,
    options: {
      dest: { type: "string", default: "data" },
      "base-url": { type: "string", default: MAMS_BASE_URL },
      force: { type: "boolean", default: false },
    },
    strict: true,
  });
  const results = await fetchFiles({
    dest: values.dest,
    baseUrl: values["base-url"],
    force: values.force,
    log,
  });
  for (const r of results) {
    log(`${r.status.padEnd(10)} ${values.dest}/${r.local} (${r.bytes} bytes)`);
  }
  return results;
}

if (import.meta.main) {
  try {
    await dataFetch(Deno.args);
  } catch (e) {
    console.error(`data:fetch: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
