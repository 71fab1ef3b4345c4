/**
 * Downloads the official MAMS XML files (siat-nlp/MAMS-for-ABSA) into a data directory. Each file
 * is written to a temporary name, checked (sha256 where known, then parsed as ABSA XML) and only
 * then renamed into place, so an interrupted or corrupt download never leaves a half file.
 *
 * @module
 */
import { parseAbsaXml } from "./absa_xml.ts";

/** Where the official files live. */
export const MAMS_BASE_URL = "https://raw.githubusercontent.com/siat-nlp/MAMS-for-ABSA/master/data";

/** One file to fetch: its path under the base URL, its path under the data dir, its hash. */
export interface RemoteFile {
  /** Path under the base URL, e.g. "MAMS-ATSA/raw/train.xml". */
  remote: string;
  /** Path under the data directory, e.g. "mams/atsa/train.xml". */
  local: string;
  /** Hex sha256 of the expected bytes, when known. */
  sha256?: string;
}

/** The MAMS files; hashes of train/val are those recorded in shared/data/SOURCES.md. */
export const MAMS_FILES: readonly RemoteFile[] = [
  {
    remote: "MAMS-ATSA/raw/train.xml",
    local: "mams/atsa/train.xml",
    sha256: "26ba39142b28169ebc80408294f4e27493bd1e127c6aa2e85ab4bc750bf8017a",
  },
  {
    remote: "MAMS-ATSA/raw/val.xml",
    local: "mams/atsa/val.xml",
    sha256: "5b7d225e2f9482a3814f15aed04ff8323105171a47d22d9899d871c4e0ba86ca",
  },
  { remote: "MAMS-ATSA/raw/test.xml", local: "mams/atsa/test.xml" },
  {
    remote: "MAMS-ACSA/raw/train.xml",
    local: "mams/acsa/train.xml",
    sha256: "24c6a1a9f769ec5a9a1fc9a63077001339cec65317e3e72cf053d8055ec5f1ac",
  },
  {
    remote: "MAMS-ACSA/raw/val.xml",
    local: "mams/acsa/val.xml",
    sha256: "d4536b0ced8e77f53f88ff1835fcf561e0de02e41a509982f76eb9b8a375b2ed",
  },
  { remote: "MAMS-ACSA/raw/test.xml", local: "mams/acsa/test.xml" },
];

/** Options for {@linkcode fetchFiles}. */
export interface FetchOptions {
  /** Destination data directory (created if missing). */
  dest: string;
  /** URL the `remote` paths are relative to (default {@linkcode MAMS_BASE_URL}). */
  baseUrl?: string;
  /** Files to fetch (default {@linkcode MAMS_FILES}). */
  files?: readonly RemoteFile[];
  /** Download even when the file already exists. */
  force?: boolean;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

/** What happened to one file. */
export interface FetchResult {
  /** The file's {@linkcode RemoteFile.local} path. */
  local: string;
  /** "skipped" when the file already existed and `force` was not set. */
  status: "downloaded" | "skipped";
  /** Size of the file on disk, in bytes. */
  bytes: number;
}

/** Downloads every file; throws on the first failure with the URL and the reason. */
export async function fetchFiles(options: FetchOptions): Promise<FetchResult[]> {
  const { dest, baseUrl = MAMS_BASE_URL, files = MAMS_FILES, force = false } = options;
  const log = options.log ?? (() => {});
  const results: FetchResult[] = [];
  for (const file of files) {
    const target = `${dest}/${file.local}`;
    const existing = await Deno.stat(target).catch(() => undefined);
    if (existing?.isFile && !force) {
      log(`skip ${target} (exists; --force to download again)`);
      results.push({ local: file.local, status: "skipped", bytes: existing.size });
      continue;
    }
    const url = `${baseUrl.replace(/\/$/, "")}/${file.remote}`;
    log(`get  ${url}`);
    const bytes = await download(url);
    await verify(url, file, bytes);
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    const partial = `${target}.part`;
    await Deno.writeFile(partial, bytes);
    await Deno.rename(partial, target);
    results.push({ local: file.local, status: "downloaded", bytes: bytes.length });
  }
  return results;
}

async function download(url: string): Promise<Uint8Array<ArrayBuffer>> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: download failed (${(e as Error).message})`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function verify(
  url: string,
  file: RemoteFile,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<void> {
  if (file.sha256) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== file.sha256) {
      throw new Error(`${url}: sha256 ${hex} does not match the expected ${file.sha256}`);
    }
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${url}: the download is not UTF-8 text`);
  }
  parseAbsaXml(url, text);
}
