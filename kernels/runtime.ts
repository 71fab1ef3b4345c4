/**
 * Runs WGSL kernels: compiles each pipeline once, records dispatches into one open compute pass,
 * and submits only at sync points (readback, uploads, a full uniform ring). Shapes and scalars
 * travel in a per-dispatch uniform slice. WebGPU errors are captured per submit and rethrown,
 * naming the ops of that submit, at the next readback.
 *
 * @module
 */
import { gpu, WebGPUError } from "../core/device.ts";

/** A compute kernel: WGSL source whose binding 0 is a `Params` uniform and bindings 1… are storage buffers. */
export interface Kernel {
  /** Unique name of this kernel variant; it keys the pipeline cache and labels errors. */
  name: string;
  /** Complete WGSL module with a `main` entry point. */
  code: string;
}

const UNIFORM_SLOT = 256;
const UNIFORM_RING_SLOTS = 4096;

interface Batch {
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  ops: string[];
  slots: number;
}

const pipelines = new Map<string, GPUComputePipeline>();
const uniformWords = new Uint32Array((UNIFORM_SLOT / 4) * UNIFORM_RING_SLOTS);
let uniformBuffer: GPUBuffer | null = null;
let batch: Batch | null = null;
const pendingErrors: Promise<void>[] = [];
let uncaptured: string | null = null;
let errorHandlerDevice: GPUDevice | null = null;

/**
 * Counters for benches and memory tests, since start: submits, CPU↔GPU synchronisations,
 * dispatches, bind groups created, bytes of uniforms written, bytes uploaded by
 * {@linkcode writeBuffer}, bytes read back, staging buffers created for readbacks, and textures
 * created (the matmul's packed operands).
 */
export const counters = {
  submits: 0,
  syncs: 0,
  dispatches: 0,
  bindGroups: 0,
  uniformBytes: 0,
  uploadBytes: 0,
  readbackBytes: 0,
  stagingBuffers: 0,
  textures: 0,
};

/**
 * Wall-clock milliseconds spent in the runtime's host calls since start: recording dispatches
 * (`encode`, of which `bindGroup` creating bind groups), submitting (`submit`, which blocks while
 * the driver takes the work), uploads, and waiting for readbacks and syncs (`wait`).
 */
export const hostTimes = { encode: 0, bindGroup: 0, submit: 0, upload: 0, wait: 0 };

let liveStaging = 0;

/** Resources the runtime holds now: compiled pipelines and readback staging buffers. */
export function runtimeStats(): { pipelines: number; stagingBuffers: number } {
  return { pipelines: pipelines.size, stagingBuffers: liveStaging };
}

/** One recorded dispatch, as handed to a {@linkcode setDispatchTrace} callback. */
export interface TracedDispatch {
  kernel: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  /** The uniform words of the dispatch and where they live (rewrite them before a replay). */
  params: Uint32Array<ArrayBuffer>;
  uniformBuffer: GPUBuffer;
  uniformOffset: number;
  workgroups: [number, number, number];
}

let trace: ((d: TracedDispatch) => void) | null = null;

/** Per kernel name, the binding slots (1…) its WGSL declares writable (read_write storage). */
const writableSlots = new Map<string, number[]>();
/** The write clock: bumped by every recorded write; each buffer remembers its last write's tick. */
let writeClock = 0;
const lastWrite = new WeakMap<GPUBuffer, number>();

function writable(kernel: Kernel): number[] {
  let slots = writableSlots.get(kernel.name);
  if (!slots) {
    const re = /@binding\((\d+)\)\s*var<storage,\s*read_write>/g;
    slots = [...kernel.code.matchAll(re)].map((m) => Number(m[1]));
    writableSlots.set(kernel.name, slots);
  }
  return slots;
}

function noteWrite(buffer: GPUBuffer): void {
  lastWrite.set(buffer, ++writeClock);
}

/**
 * The tick of the last write recorded into `buffer` (by a kernel's read_write binding, an upload
 * or a copy), 0 if none; compare with {@linkcode writeTick} taken when a value derived from the
 * buffer was recorded to tell whether the buffer has changed since (work runs in recording order).
 */
export function lastWriteTick(buffer: GPUBuffer): number {
  return lastWrite.get(buffer) ?? 0;
}

/** The write clock now: every later write to any buffer gets a larger tick. */
export function writeTick(): number {
  return writeClock;
}

/** Calls `fn` for every dispatch recorded from now on (null stops); for the bench's kernel table. */
export function setDispatchTrace(fn: ((d: TracedDispatch) => void) | null): void {
  trace = fn;
}

function device(): GPUDevice {
  const d = gpu();
  if (errorHandlerDevice !== d) {
    errorHandlerDevice = d;
    d.addEventListener("uncapturederror", (ev) => {
      uncaptured ??= (ev as GPUUncapturedErrorEvent).error.message;
    });
  }
  return d;
}

function openBatch(d: GPUDevice): Batch {
  if (batch) return batch;
  d.pushErrorScope("internal");
  d.pushErrorScope("out-of-memory");
  d.pushErrorScope("validation");
  uniformBuffer ??= d.createBuffer({
    size: uniformWords.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  batch = { encoder: d.createCommandEncoder(), pass: null, ops: [], slots: 0 };
  return batch;
}

function pipelineFor(d: GPUDevice, kernel: Kernel): GPUComputePipeline {
  let p = pipelines.get(kernel.name);
  if (!p) {
    const module = d.createShaderModule({ code: kernel.code, label: kernel.name });
    p = d.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: kernel.name,
    });
    pipelines.set(kernel.name, p);
  }
  return p;
}

/** The largest number of workgroups along one dispatch dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Splits `count` workgroups over x and y so that neither exceeds the per-dimension limit.
 * Kernels recover the linear index as `wid.x + wid.y * nwg.x`.
 */
export function grid(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(count / y), y];
}

/** The u32 bit pattern of an f32 value, for passing floats through the u32 uniform words. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * Records one dispatch of `kernel` over `workgroups`, binding `params` (u32 words, at most 64) at
 * binding 0 and `buffers` (storage buffers, or texture views for sampled/storage textures) at
 * bindings 1….
 */
export function dispatch(
  kernel: Kernel,
  buffers: (GPUBuffer | GPUTextureView)[],
  params: ArrayLike<number>,
  workgroups: [number, number?, number?],
): void {
  const t0 = performance.now();
  const d = device();
  if (params.length > UNIFORM_SLOT / 4) {
    throw new Error(
      `kernel ${kernel.name}: ${params.length} uniform words exceed the 64-word slot`,
    );
  }
  let b = openBatch(d);
  if (b.slots === UNIFORM_RING_SLOTS) {
    flush();
    b = openBatch(d);
  }
  const pipeline = pipelineFor(d, kernel);
  const slot = b.slots++;
  uniformWords.set(params as ArrayLike<number>, slot * (UNIFORM_SLOT / 4));
  counters.uniformBytes += params.length * 4;
  const entries: GPUBindGroupEntry[] = [{
    binding: 0,
    resource: { buffer: uniformBuffer!, offset: slot * UNIFORM_SLOT, size: UNIFORM_SLOT },
  }];
  buffers.forEach((resource, i) =>
    entries.push({
      binding: i + 1,
      resource: resource instanceof GPUBuffer ? { buffer: resource } : resource,
    })
  );
  const t1 = performance.now();
  const bindGroup = d.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries,
    label: kernel.name,
  });
  hostTimes.bindGroup += performance.now() - t1;
  counters.bindGroups++;
  if (profile) {
    b.pass?.end();
    const k = profile.batchNames.length;
    b.pass = b.encoder.beginComputePass({
      timestampWrites: {
        querySet: profile.querySet,
        beginningOfPassWriteIndex: 2 * k,
        endOfPassWriteIndex: 2 * k + 1,
      },
    });
    profile.batchNames.push(kernel.name);
  }
  b.pass ??= b.encoder.beginComputePass();
  b.pass.setPipeline(pipeline);
  b.pass.setBindGroup(0, bindGroup);
  b.pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
  for (const slot of writable(kernel)) {
    const r = buffers[slot - 1];
    if (r instanceof GPUBuffer) noteWrite(r);
  }
  b.ops.push(kernel.name);
  counters.dispatches++;
  const wg: [number, number, number] = [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1];
  trace?.({
    kernel: kernel.name,
    pipeline,
    bindGroup,
    params: Uint32Array.from(params),
    uniformBuffer: uniformBuffer!,
    uniformOffset: slot * UNIFORM_SLOT,
    workgroups: wg,
  });
  if (profile) {
    b.pass.end();
    b.pass = null;
    if (profile.batchNames.length === PROFILE_CAPACITY) flush();
  }
  hostTimes.encode += performance.now() - t0;
}

const PROFILE_CAPACITY = 2048;

interface Profile {
  querySet: GPUQuerySet;
  batchNames: string[];
  totals: Map<string, { calls: number; ms: number }>;
  pending: Promise<void>[];
}
let profile: Profile | null = null;

/** GPU time of one kernel over a profiled span. */
export interface KernelTime {
  /** Kernel name. */
  name: string;
  /** Dispatches recorded. */
  calls: number;
  /** Summed GPU time in milliseconds. */
  ms: number;
}

/**
 * Starts timing every dispatch with timestamp queries (one compute pass each, so profiled runs
 * are slower than normal ones). Needs the adapter's `timestamp-query` feature. On lavapipe the
 * timings cover long kernels but miss most of the cost of many small dispatches (see README).
 */
export function startProfile(): void {
  const d = device();
  if (!d.features.has("timestamp-query")) {
    throw new Error("profiling needs the adapter's timestamp-query feature");
  }
  flush();
  profile = {
    querySet: d.createQuerySet({ type: "timestamp", count: 2 * PROFILE_CAPACITY }),
    batchNames: [],
    totals: new Map(),
    pending: [],
  };
}

/** Ends profiling and returns the time per kernel, largest first. */
export async function stopProfile(): Promise<KernelTime[]> {
  if (!profile) throw new Error("stopProfile() without startProfile()");
  flush();
  const p = profile;
  profile = null;
  await Promise.all(p.pending);
  p.querySet.destroy();
  return [...p.totals].map(([name, t]) => ({ name, ...t })).sort((a, b) => b.ms - a.ms);
}

function resolveProfile(d: GPUDevice, encoder: GPUCommandEncoder): (() => void) | null {
  if (!profile || profile.batchNames.length === 0) return null;
  const p = profile;
  const names = p.batchNames.splice(0);
  const bytes = names.length * 16;
  const resolved = d.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const readable = d.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  encoder.resolveQuerySet(p.querySet, 0, 2 * names.length, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
  return () => {
    p.pending.push(
      readable.mapAsync(GPUMapMode.READ).then(() => {
        const ticks = new BigUint64Array(readable.getMappedRange());
        names.forEach((name, i) => {
          const t = p.totals.get(name) ?? { calls: 0, ms: 0 };
          t.calls++;
          t.ms += Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6;
          p.totals.set(name, t);
        });
        readable.destroy();
        resolved.destroy();
      }),
    );
  };
}

/** Records a buffer-to-buffer copy in order with the dispatches around it. */
export function copyBuffer(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
  const b = openBatch(device());
  b.pass?.end();
  b.pass = null;
  b.encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
  noteWrite(dst);
  b.ops.push("copy");
}

/** Submits everything recorded so far without waiting for it. */
export function flush(): void {
  if (!batch) return;
  const t0 = performance.now();
  const d = device();
  const b = batch;
  batch = null;
  b.pass?.end();
  if (b.slots > 0) {
    d.queue.writeBuffer(uniformBuffer!, 0, uniformWords, 0, b.slots * (UNIFORM_SLOT / 4));
  }
  const readProfile = resolveProfile(d, b.encoder);
  d.queue.submit([b.encoder.finish()]);
  readProfile?.();
  counters.submits++;
  const ops = b.ops;
  const scopes = [d.popErrorScope(), d.popErrorScope(), d.popErrorScope()];
  pendingErrors.push(
    Promise.all(scopes).then((errors) => {
      const e = errors.find((x) => x !== null);
      if (e) throw new WebGPUError(`WebGPU error in ${describeOps(ops)}: ${e.message}`);
    }),
  );
  hostTimes.submit += performance.now() - t0;
}

function describeOps(ops: string[]): string {
  const unique = [...new Set(ops)];
  const shown = unique.slice(0, 8).join(", ");
  return `op(s) [${shown}${unique.length > 8 ? ", …" : ""}]`;
}

/** Waits for submitted work's error checks and throws the first WebGPU error found. */
async function checkErrors(): Promise<void> {
  const all = pendingErrors.splice(0);
  await Promise.all(all);
  if (uncaptured) {
    const message = uncaptured;
    uncaptured = null;
    throw new WebGPUError(`WebGPU error outside a kernel batch: ${message}`);
  }
}

/**
 * Writes host data into a buffer. Pending dispatches are submitted first, because
 * `queue.writeBuffer` would otherwise land before work recorded earlier.
 */
export function writeBuffer(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  flush();
  const t0 = performance.now();
  device().queue.writeBuffer(
    buffer,
    byteOffset,
    data.buffer as ArrayBuffer,
    data.byteOffset,
    data.byteLength,
  );
  noteWrite(buffer);
  counters.uploadBytes += data.byteLength;
  hostTimes.upload += performance.now() - t0;
}

/** Copies `bytes` bytes of `src` back to the host: one sync point. */
export async function readBuffer(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const d = device();
  const size = Math.ceil(bytes / 4) * 4;
  const staging = d.createBuffer({
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  counters.stagingBuffers++;
  liveStaging++;
  const b = openBatch(d);
  b.pass?.end();
  b.pass = null;
  b.encoder.copyBufferToBuffer(src, 0, staging, 0, size);
  b.ops.push("readback");
  flush();
  counters.syncs++;
  counters.readbackBytes += bytes;
  const t0 = performance.now();
  try {
    await Promise.all([staging.mapAsync(GPUMapMode.READ), checkErrors()]);
    return staging.getMappedRange().slice(0, bytes);
  } finally {
    hostTimes.wait += performance.now() - t0;
    staging.destroy();
    liveStaging--;
  }
}

/** Submits pending work and waits until the GPU has finished it (for benches). */
export async function sync(): Promise<void> {
  flush();
  counters.syncs++;
  const t0 = performance.now();
  await Promise.all([device().queue.onSubmittedWorkDone(), checkErrors()]);
  hostTimes.wait += performance.now() - t0;
}
