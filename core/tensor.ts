/**
 * The Tensor: a contiguous GPU buffer with a shape and dtype, and (when it requires grad) a node on
 * the autograd tape. Views such as `reshape` share the buffer through a reference count.
 *
 * @module
 */
import { acquireBuffer, releaseBuffer } from "./buffer_pool.ts";
import { attach, backward as runBackward, type GradNode } from "./autograd.ts";
import { track } from "./scope.ts";
import { readBuffer, writeBuffer } from "../kernels/runtime.ts";
import { fill } from "../kernels/fill.wgsl.ts";

/** Element types a tensor can hold. */
export type DType = "f32" | "i32" | "f16";

/** Host-side arrays accepted by {@linkcode tensor}. */
export type TensorData = number[] | Float32Array | Int32Array | Uint8Array | number;

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

/** A GPU buffer shared by a tensor and its views. */
class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer) {}
  release(): void {
    if (--this.refs === 0) releaseBuffer(this.buffer);
  }
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`invalid shape [${shape}]: dims must be integers ≥ 0`);
    }
  }
}

/** An n-dimensional array on the GPU. */
export class Tensor {
  /** Whether gradients flow to this tensor. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`; owned by this tensor. */
  grad: Tensor | null = null;
  /** The autograd record of the op that produced this tensor, if any. */
  node: GradNode | null = null;
  #storage: Storage | null;

  /** Wraps a buffer; prefer the creation functions ({@linkcode tensor}, {@linkcode zeros}, …). */
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    storage?: Storage,
  ) {
    checkShape(shape);
    this.#storage = storage ?? new Storage(acquireBuffer(this.byteLength));
    track(this);
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of data (unpadded). */
  get byteLength(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  /** The GPU buffer (for kernels); throws once disposed. */
  get buffer(): GPUBuffer {
    if (!this.#storage) {
      throw new Error(`tensor [${this.shape}] ${this.dtype} was used after dispose()`);
    }
    return this.#storage.buffer;
  }

  /** True once `dispose()` ran. */
  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /** Releases the buffer (to the pool once no view shares it) and the gradient. */
  dispose(): void {
    this.#storage?.release();
    this.#storage = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** Copies the data back to the host (one sync). f16 data comes back as f32. */
  async data(): Promise<Float32Array | Int32Array> {
    const bytes = await readBuffer(this.buffer, this.byteLength);
    if (this.dtype === "i32") return new Int32Array(bytes);
    if (this.dtype === "f16") return Float32Array.from(new Float16Array(bytes));
    return new Float32Array(bytes);
  }

  /**
   * Overwrites the data in place with `values` (host numbers, one per element, converted to the
   * dtype), after the work recorded so far; views of this tensor see the new values. No gradient
   * is recorded. Returns this.
   */
  write(values: ArrayLike<number>): this {
    if (values.length !== this.size) {
      throw new Error(
        `write(): ${values.length} values for tensor [${this.shape}] of ${this.size}`,
      );
    }
    if (values.length > 0) writeBuffer(this.buffer, hostArray(values, this.dtype));
    return this;
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs one element, got shape [${this.shape}]`);
    return (await this.data())[0];
  }

  /** A view with a new shape and the same data; one dim may be -1. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size);
    const view = this.#view(resolved);
    const source = this.shape;
    return attach(view, "reshape", [this], (g) => [g.reshape(source)]);
  }

  /** A view that shares data but is cut from the tape: no gradient flows through it. */
  detach(): Tensor {
    return this.#view(this.shape);
  }

  #view(shape: readonly number[]): Tensor {
    const storage = this.#storage;
    if (!storage) throw new Error(`tensor [${this.shape}] was used after dispose()`);
    storage.refs++;
    return new Tensor(shape, this.dtype, storage);
  }

  /** Marks this tensor as a leaf that collects gradients; returns it. */
  requireGrad(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** Backpropagates from this scalar (or with the given output gradient). */
  backward(grad?: Tensor): void {
    runBackward(this, grad, backwardHooks.add, (s) => full(s, 1));
  }

  /** A short description such as `Tensor(f32, [2, 3])`. */
  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(", ")}])`;
  }
}

/** The add op, registered by the elementwise family to accumulate gradients without an import cycle. */
export const backwardHooks: { add: (a: Tensor, b: Tensor) => Tensor } = {
  add: () => {
    throw new Error("elementwise ops not loaded: import mod.ts");
  },
};

function resolveShape(shape: readonly number[], size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = sizeOf(out.filter((_, i) => i !== free));
    if (rest === 0 || size % rest !== 0) {
      throw new Error(`cannot reshape ${size} elements into [${shape}]`);
    }
    out[free] = size / rest;
  }
  if (sizeOf(out) !== size) throw new Error(`cannot reshape ${size} elements into [${shape}]`);
  return out;
}

function inferShape(data: TensorData): number[] {
  return typeof data === "number" ? [] : [data.length];
}

/** Uploads host data as a tensor (default dtype f32; `i32` for indices). */
export function tensor(data: TensorData, shape?: readonly number[], dtype: DType = "f32"): Tensor {
  const s = shape ?? inferShape(data);
  const values = typeof data === "number" ? [data] : data;
  if (values.length !== sizeOf(s)) {
    throw new Error(`tensor(): ${values.length} values do not fill shape [${s}]`);
  }
  return new Tensor(s, dtype).write(values as ArrayLike<number>);
}

/** Host values as the bytes of `dtype` (f16 padded to a multiple of 4 bytes). */
function hostArray(values: ArrayLike<number>, dtype: DType): ArrayBufferView {
  if (dtype === "i32") return Int32Array.from(values);
  if (dtype === "f16") return padTo4(new Uint16Array(Float16Array.from(values).buffer));
  return Float32Array.from(values);
}

function padTo4(half: Uint16Array): Uint16Array {
  if (half.length % 2 === 0) return half;
  const out = new Uint16Array(half.length + 1);
  out.set(half);
  return out;
}

/** A tensor of `shape` filled with `value` (filled on the GPU, no upload). */
export function full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  if (dtype === "f16") return tensor(new Float32Array(sizeOf(shape)).fill(value), shape, "f16");
  const t = new Tensor(shape, dtype);
  fill(t.buffer, t.size, value, dtype);
  return t;
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
  return full(shape, 0, dtype);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], dtype: DType = "f32"): Tensor {
  return full(shape, 1, dtype);
}

/** `[start, start+step, …)` below `end`, as a 1-D tensor. */
export function arange(start: number, end?: number, step = 1, dtype: DType = "f32"): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const n = Math.max(0, Math.ceil((end - start) / step));
  return tensor(Array.from({ length: n }, (_, i) => start + i * step), [n], dtype);
}
