/**
 * Append-only output files that survive being killed at any instant. Lines are buffered and
 * appended whole; `commit()` flushes them, syncs, then writes a small state file (temp file +
 * rename) holding each file's committed length. Opening truncates every file back to its
 * committed length, so a restarted run never sees a half-written or uncommitted line, and the
 * state file is the done-list's commit marker.
 *
 * @module
 */
import { writeFileAtomic } from "../../core/io/safetensors.ts";

/** Version of the state file layout. */
export const STATE_VERSION = 1;

/** The state file's content. */
export interface CommitState<E> {
  version: number;
  /** Which task wrote the directory ("docs:ingest", "docs:synthesize"). */
  kind: string;
  /** Settings that must not change between a run and its resumption. */
  settings: Record<string, unknown>;
  /** Committed byte length of each file. */
  lengths: Record<string, number>;
  /** Set while an atomic replacement of the files is under way (see `replaceAll`). */
  replacing?: boolean;
  /** Task data committed with the files (counters). */
  extra: E;
}

/** The directory holds another task's output, or output made with other settings. */
export class ResumeMismatchError extends Error {
  /** Builds the error for `dir` with a reason. */
  constructor(readonly dir: string, reason: string) {
    super(`${dir}: ${reason}; pass --fresh to start over or choose another --out`);
    this.name = "ResumeMismatchError";
  }
}

/** Options for {@linkcode CommittedFiles.open}. */
export interface OpenOptions<E> {
  /** The state file's name inside the directory. */
  stateFile: string;
  /** Names of the append-only files inside the directory. */
  files: readonly string[];
  kind: string;
  settings: Record<string, unknown>;
  /** `extra` of a directory with no state yet. */
  initial: E;
  /** Discard any earlier output. */
  fresh?: boolean;
}

/** A set of append-only files with an atomic commit marker. */
export class CommittedFiles<E> {
  readonly #buffers = new Map<string, string[]>();
  readonly #encoder = new TextEncoder();

  private constructor(
    readonly dir: string,
    readonly options: OpenOptions<E>,
    readonly state: CommitState<E>,
    /** Whether earlier committed output was found and kept. */
    readonly resumed: boolean,
  ) {}

  /** Opens (creating) `dir`, checks the settings, truncates files to their committed lengths. */
  static async open<E>(dir: string, options: OpenOptions<E>): Promise<CommittedFiles<E>> {
    await Deno.mkdir(dir, { recursive: true });
    const statePath = `${dir}/${options.stateFile}`;
    let state = options.fresh ? undefined : await readState<E>(statePath);
    if (state?.replacing) await finishReplace(dir, options.files);
    if (state !== undefined) {
      if (state.kind !== options.kind) {
        throw new ResumeMismatchError(dir, `it holds ${state.kind} output, not ${options.kind}`);
      }
      for (const [key, value] of Object.entries(options.settings)) {
        if (JSON.stringify(state.settings[key]) !== JSON.stringify(value)) {
          throw new ResumeMismatchError(
            dir,
            `it was made with ${key} = ${JSON.stringify(state.settings[key])}, ` +
              `this run asks for ${JSON.stringify(value)}`,
          );
        }
      }
    }
    const resumed = state !== undefined;
    state ??= {
      version: STATE_VERSION,
      kind: options.kind,
      settings: options.settings,
      lengths: Object.fromEntries(options.files.map((f) => [f, 0])),
      extra: options.initial,
    };
    for (const name of options.files) {
      const committed = state.lengths[name] ?? 0;
      state.lengths[name] = committed;
      const path = `${dir}/${name}`;
      const size = await Deno.stat(path).then((s) => s.size, () => -1);
      if (size < 0 && committed === 0) {
        await Deno.writeFile(path, new Uint8Array());
        continue;
      }
      if (size < committed) {
        throw new ResumeMismatchError(
          dir,
          `${name} has ${Math.max(size, 0)} bytes but ${committed} were committed (was it edited?)`,
        );
      }
      if (size > committed) await Deno.truncate(path, committed);
    }
    const files = new CommittedFiles(dir, options, state, resumed);
    if (!resumed) await files.commit();
    return files;
  }

  /** The committed text of file `name` (what a resumed run starts from). */
  async readCommitted(name: string): Promise<string> {
    const bytes = await Deno.readFile(`${this.dir}/${name}`);
    return new TextDecoder().decode(bytes.subarray(0, this.state.lengths[name]));
  }

  /** Queues one complete line (a newline is added) for file `name`. */
  appendLine(name: string, line: string): void {
    if (!this.options.files.includes(name)) throw new Error(`unknown output file ${name}`);
    if (line.includes("\n")) throw new Error(`a line for ${name} contains a newline`);
    const buffer = this.#buffers.get(name) ?? [];
    buffer.push(line + "\n");
    this.#buffers.set(name, buffer);
  }

  /** Appends the queued lines, syncs them, then records the new lengths and `extra` atomically. */
  async commit(extra?: E): Promise<void> {
    for (const [name, lines] of this.#buffers) {
      if (lines.length === 0) continue;
      const bytes = this.#encoder.encode(lines.join(""));
      const file = await Deno.open(`${this.dir}/${name}`, { write: true });
      try {
        await file.seek(this.state.lengths[name], Deno.SeekMode.Start);
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
        await file.syncData();
      } finally {
        file.close();
      }
      this.state.lengths[name] += bytes.length;
    }
    this.#buffers.clear();
    if (extra !== undefined) this.state.extra = extra;
    await this.#writeState();
  }

  /**
   * Replaces the committed content of the files (e.g. without the lines of a changed source),
   * safely: new contents go to `.replace` files, the state records that a replacement is under
   * way, the files are renamed into place, and the state is written again. A run killed in
   * between finishes the renames when it reopens the directory.
   */
  async replaceAll(contents: Record<string, string>, extra: E): Promise<void> {
    if (this.#buffers.size > 0) throw new Error("replaceAll with uncommitted lines");
    for (const [name, text] of Object.entries(contents)) {
      const bytes = this.#encoder.encode(text);
      await writeFileAtomic(`${this.dir}/${name}.replace`, bytes);
      this.state.lengths[name] = bytes.length;
    }
    this.state.extra = extra;
    this.state.replacing = true;
    await this.#writeState();
    await finishReplace(this.dir, Object.keys(contents));
    delete this.state.replacing;
    await this.#writeState();
  }

  async #writeState(): Promise<void> {
    const text = JSON.stringify(this.state, null, 2) + "\n";
    await writeFileAtomic(`${this.dir}/${this.options.stateFile}`, this.#encoder.encode(text));
  }
}

async function finishReplace(dir: string, files: readonly string[]): Promise<void> {
  for (const name of files) {
    await Deno.rename(`${dir}/${name}.replace`, `${dir}/${name}`).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

async function readState<E>(path: string): Promise<CommitState<E> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let state: CommitState<E>;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON (${(e as Error).message}); pass --fresh to start over`);
  }
  if (state.version !== STATE_VERSION || typeof state.lengths !== "object") {
    throw new Error(
      `${path}: state version ${state.version}, expected ${STATE_VERSION}; pass --fresh`,
    );
  }
  return state;
}
