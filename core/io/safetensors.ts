/**
 * The safetensors format, as PyTorch and Hugging Face write it: an 8-byte little-endian u64 header
 * length N, N bytes of JSON header (padded with spaces so the data starts 8-byte aligned) mapping
 * each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` plus an optional
 * `__metadata__` string map, then the raw little-endian data, offsets counted from its start.
 *
 * @module
 */
import { sizeOf, Tensor } from "../tensor.ts";
import { readBuffer, writeBuffer } from "../../kernels/runtime.ts";
import { writeFileAtomic } from "./atomic.ts";

export { writeFileAtomic };

/** Safetensors dtypes this toolkit reads and writes (BF16 is read, as f32). */
export type SafetensorsDType = "F32" | "F16" | "I32" | "BF16";

/** One tensor on the host: raw little-endian bytes. */
export interface HostTensorEntry {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

/** A parsed file: tensors by name and the `__metadata__` strings. */
export interface HostSafetensors {
  tensors: Record<string, HostTensorEntry>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, I32: 4, BF16: 2 };
/** Headers above this size are refused as corrupt (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

/** Raised for a file that is not valid safetensors; the message names the file and the problem. */
export class SafetensorsError extends Error {
  /** Creates the error for `source` (a path or a description). */
  constructor(source: string, problem: string) {
    super(`invalid safetensors file ${source}: ${problem}`);
    this.name = "SafetensorsError";
  }
}

/** Serialises host tensors (written in name order, contiguous) and metadata to safetensors bytes. */
export function encodeSafetensors(
  tensors: Record<string, HostTensorEntry>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new Error(`a tensor cannot be named ${METADATA_KEY}`);
    const t = tensors[name];
    const expected = sizeOf(t.shape) * BYTES[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new Error(
        `tensor "${name}": ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}] (want ${expected})`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const name of names) {
    out.set(tensors[name].data, at);
    at += tensors[name].data.byteLength;
  }
  return out;
}

function isDType(x: unknown): x is SafetensorsDType {
  return typeof x === "string" && x in BYTES;
}

/**
 * Parses safetensors bytes, validating the header length, the JSON, every dtype, shape and offset
 * range (in bounds, no overlap, size = elements × dtype bytes, nothing after the last tensor's
 * data, as the reference reader requires). `source` names the file in errors.
 * The returned data arrays are views into `bytes`.
 */
export function readSafetensorsHost(bytes: Uint8Array, source = "<bytes>"): HostSafetensors {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (bytes.byteLength < 8) {
    fail(`only ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(
      `header length ${headerLength} exceeds the ${
        bytes.byteLength - 8
      } bytes after it (truncated?)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} is too large`);
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors: Record<string, HostTensorEntry> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        fail(`${METADATA_KEY} is not an object`);
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`${METADATA_KEY}.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== "object") fail(`tensor "${name}" has no description`);
    if (!isDType(info.dtype)) {
      fail(`tensor "${name}" has unknown or unsupported dtype ${JSON.stringify(info.dtype)}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.byteLength) {
      fail(
        `tensor "${name}" data_offsets [${begin}, ${end}] run past the ${data.byteLength} data bytes`,
      );
    }
    const dtype = info.dtype as SafetensorsDType;
    const expected = sizeOf(shape as number[]) * BYTES[dtype];
    if (end - begin !== expected) {
      fail(
        `tensor "${name}" is ${dtype} [${shape}] (${expected} bytes) but spans ${
          end - begin
        } bytes`,
      );
    }
    ranges.push([begin, end, name]);
    tensors[name] = { dtype, shape: shape as number[], data: data.subarray(begin, end) };
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let reach = 0;
  let reachName = "";
  for (const [begin, end, name] of ranges) {
    if (begin === end) continue;
    if (begin < reach) fail(`tensors "${reachName}" and "${name}" overlap (at byte ${begin})`);
    reach = end;
    reachName = name;
  }
  if (reach !== data.byteLength) {
    fail(
      `${data.byteLength - reach} bytes after the last tensor's data (the header accounts for ` +
        `${reach} of ${data.byteLength} data bytes: trailing garbage, or a damaged header)`,
    );
  }
  return { tensors, metadata };
}

function toDType(t: Tensor): SafetensorsDType {
  return t.dtype === "f32" ? "F32" : t.dtype === "f16" ? "F16" : "I32";
}

/** Reads tensors back from the GPU as host entries (their readbacks run concurrently). */
export async function tensorsToHost(
  tensors: Record<string, Tensor>,
): Promise<Record<string, HostTensorEntry>> {
  const entries = await Promise.all(
    Object.entries(tensors).map(async ([name, t]) => {
      const data = t.size === 0
        ? new Uint8Array(0)
        : new Uint8Array(await readBuffer(t.buffer, t.byteLength));
      const entry: HostTensorEntry = { dtype: toDType(t), shape: [...t.shape], data };
      return [name, entry] as const;
    }),
  );
  return Object.fromEntries(entries);
}

function bf16ToF32(data: Uint8Array): Uint8Array {
  const out = new Uint32Array(data.byteLength / 2);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(2 * i, true) << 16;
  return new Uint8Array(out.buffer);
}

/** Uploads a host entry as a new tensor (f32, f16 or i32; BF16 becomes f32). */
export function hostToTensor(entry: HostTensorEntry): Tensor {
  const dtype = entry.dtype === "I32" ? "i32" : entry.dtype === "F16" ? "f16" : "f32";
  const bytes = entry.dtype === "BF16" ? bf16ToF32(entry.data) : entry.data;
  const t = new Tensor(entry.shape, dtype);
  if (bytes.byteLength > 0) {
    // writeBuffer needs a multiple of 4 bytes (odd-length f16) and an aligned source.
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    writeBuffer(t.buffer, padded);
  }
  return t;
}

/** Saves tensors (read back from the GPU) and string metadata to a safetensors file, atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(await tensorsToHost(tensors), metadata));
}

/** Loads a safetensors file into new GPU tensors (the caller owns them) and its metadata. */
export async function loadSafetensors(
  path: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const parsed = readSafetensorsHost(await Deno.readFile(path), path);
  const tensors: Record<string, Tensor> = {};
  for (const [name, entry] of Object.entries(parsed.tensors)) tensors[name] = hostToTensor(entry);
  return { tensors, metadata: parsed.metadata };
}
