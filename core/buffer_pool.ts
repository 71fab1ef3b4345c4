/**
 * A size-class pool of GPU storage buffers: released buffers are reused by later tensors of the
 * same class instead of being destroyed, so a training loop allocates nothing after warm-up.
 *
 * @module
 */
import { gpu } from "./device.ts";

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const MIN_BYTES = 256;

const free = new Map<number, GPUBuffer[]>();
let liveBuffers = 0;
let liveBytes = 0;
let pooledBytes = 0;
let createdBuffers = 0;
let pooledBuffers = 0;
let acquires = 0;

/** Rounds a byte count up to its size class: 256 B minimum, then powers of two and their 1.5× midpoints. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_BYTES) return MIN_BYTES;
  const pow = 2 ** Math.ceil(Math.log2(bytes));
  const mid = (pow / 4) * 3;
  return bytes <= mid ? mid : pow;
}

/** Takes a storage buffer of at least `bytes` bytes from the pool, creating one when the class is empty. */
export function acquireBuffer(bytes: number): GPUBuffer {
  const size = sizeClass(bytes);
  const list = free.get(size);
  let buffer = list?.pop();
  acquires++;
  if (buffer) {
    pooledBytes -= size;
    pooledBuffers--;
  } else {
    buffer = gpu().createBuffer({ size, usage: STORAGE_USAGE });
    createdBuffers++;
  }
  liveBuffers++;
  liveBytes += size;
  return buffer;
}

/** Returns a buffer to its size class for reuse. */
export function releaseBuffer(buffer: GPUBuffer): void {
  const size = buffer.size;
  let list = free.get(size);
  if (!list) free.set(size, list = []);
  list.push(buffer);
  liveBuffers--;
  liveBytes -= size;
  pooledBytes += size;
  pooledBuffers++;
}

/**
 * Runs `fn` with a lender of temporary storage buffers and returns them all to the pool after it
 * (safe once `fn` has recorded its dispatches: work runs in recording order).
 */
export function withScratch<T>(fn: (lend: (bytes: number) => GPUBuffer) => T): T {
  const lent: GPUBuffer[] = [];
  try {
    return fn((bytes) => {
      const buffer = acquireBuffer(bytes);
      lent.push(buffer);
      return buffer;
    });
  } finally {
    for (const buffer of lent) releaseBuffer(buffer);
  }
}

/** Counters that tests and benches use to prove memory is flat across training steps. */
export interface PoolStats {
  /** Buffers currently owned by live tensors. */
  liveBuffers: number;
  /** Bytes currently owned by live tensors (size-class rounded). */
  liveBytes: number;
  /** Bytes sitting in the pool, ready for reuse. */
  pooledBytes: number;
  /** Buffers sitting in the pool. */
  pooledBuffers: number;
  /** GPU buffers created since start. */
  createdBuffers: number;
  /** Buffers handed out since start (from the pool or newly created). */
  acquires: number;
}

/** Current pool counters. */
export function poolStats(): PoolStats {
  return { liveBuffers, liveBytes, pooledBytes, pooledBuffers, createdBuffers, acquires };
}

/** Destroys every pooled buffer (live buffers are untouched). */
export function drainPool(): void {
  for (const list of free.values()) for (const b of list) b.destroy();
  free.clear();
  pooledBytes = 0;
  pooledBuffers = 0;
}
