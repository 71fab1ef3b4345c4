/**
 * Finds the data directory: the `--data` flag, then the `CLARA_DATA_DIR` environment variable,
 * then `./data`, then `../shared/data`. When none is usable the error lists every place searched.
 *
 * @module
 */

/** Name of the environment variable that points at the data directory. */
export const DATA_DIR_ENV = "CLARA_DATA_DIR";

/** Where to look. */
export interface DataDirOptions {
  /** The `--data` flag; when given it is the only place searched. */
  flag?: string;
  /** Directory the relative defaults are resolved against (default: the working directory). */
  cwd?: string;
  /** Environment lookup (default: `Deno.env.get`); tests pass their own. */
  env?: (name: string) => string | undefined;
  /** A path inside the directory that must exist for it to count (e.g. "mams/atsa"). */
  mustContain?: string;
}

/** No data directory was found; `searched` lists each candidate with why it was rejected. */
export class DataDirNotFoundError extends Error {
  /** Builds the message from the candidates searched. */
  constructor(readonly searched: { source: string; path: string; reason: string }[]) {
    const lines = searched.map((s) => `  ${s.source}: ${s.path} (${s.reason})`);
    super(
      `no data directory found; searched:\n${lines.join("\n")}\n` +
        `pass --data DIR, set ${DATA_DIR_ENV}, or run \`deno task data:fetch\` to fill ./data`,
    );
    this.name = "DataDirNotFoundError";
  }
}

/** Returns the first usable data directory as an absolute path, or throws. */
export function resolveDataDir(options: DataDirOptions = {}): string {
  const cwd = options.cwd ?? Deno.cwd();
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const candidates: { source: string; path: string }[] = [];
  if (options.flag !== undefined) candidates.push({ source: "--data flag", path: options.flag });
  else {
    const fromEnv = env(DATA_DIR_ENV);
    if (fromEnv) candidates.push({ source: `$${DATA_DIR_ENV}`, path: fromEnv });
    candidates.push({ source: "default", path: "data" });
    candidates.push({ source: "default", path: "../shared/data" });
  }
  const searched: { source: string; path: string; reason: string }[] = [];
  for (const c of candidates) {
    const path = absolute(cwd, c.path);
    const reason = rejectReason(path, options.mustContain);
    if (reason === undefined) return path;
    searched.push({ source: c.source, path, reason });
  }
  throw new DataDirNotFoundError(searched);
}

function absolute(cwd: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return "/" + parts.join("/");
}

function rejectReason(path: string, mustContain: string | undefined): string | undefined {
  try {
    if (!Deno.statSync(path).isDirectory) return "not a directory";
  } catch {
    return "does not exist";
  }
  if (mustContain !== undefined) {
    try {
      Deno.statSync(`${path}/${mustContain}`);
    } catch {
      return `has no ${mustContain}`;
    }
  }
  return undefined;
}
