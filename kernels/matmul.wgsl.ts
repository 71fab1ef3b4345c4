/**
 * Batched matmul C = op(A)·op(B) with broadcast batch dims, in three dispatches:
 * 1. B is packed into an rgba32float texture, four N-consecutive values per texel, rows of K, zero
 *    padded (K up to a multiple of 4), laid out linearly and wrapped at `TEXTURE_WIDTH`
 *    texels per texture row so any shape fits one texture of fixed width. With the fast paths on
 *    (fast_paths.ts) a packed B is kept and reused by later products of the same buffer in the same
 *    layout until a write to that buffer is recorded (runtime.ts tracks writes).
 * 2. A is packed into a K-contiguous vec4 buffer (skipped when A already is one).
 * 3. The product kernel: a workgroup is one row of `workgroupX` invocations along N, and every
 *    invocation accumulates a `rows × 4·colVec4s` register tile. All invocations of a workgroup
 *    share the same rows of A, so A loads are workgroup-uniform (one scalar load on SIMD-on-CPU
 *    adapters such as lavapipe); B arrives through texture fetches, which lavapipe gathers faster
 *    than storage-buffer loads. No barriers, no shared memory. Transposes are handled by the
 *    packing kernels, so the product kernel has one form.
 *
 * With `half` set (mixed precision), packing rounds both operands to f16 (A into vec4<f16>, B into
 * an rgba16float texture), halving the bytes the product streams; products and sums stay f32.
 *
 * @module
 */
import { info } from "../core/device.ts";
import { dispatch, type Kernel, MAX_WORKGROUPS_PER_DIM } from "./runtime.ts";
import { fastPathsEnabled } from "./fast_paths.ts";
import {
  acquireTexture,
  findPacked,
  type PackedTexture,
  releaseTexture,
  rememberPacked,
  TEXTURE_WIDTH,
  WIDTH_SHIFT,
} from "./packed_b.ts";
import { MAX_RANK, packDims } from "./elementwise.wgsl.ts";
import { stridedCopy } from "./copy.wgsl.ts";
import { ROW_BUILTINS, ROW_WG, rowGrid, rowIndexCode, rowsPerGroup } from "./row_grid.ts";

/** The register tile of the product kernel. */
export interface MatmulTile {
  /** Invocations per workgroup, side by side along N. */
  workgroupX: number;
  /** Rows of C per invocation (shared by the workgroup). */
  rows: number;
  /** Groups of 4 columns of C per invocation. */
  colVec4s: number;
}

/** The tiles of one adapter: a large register tile for big products, a small one for the rest. */
export interface MatmulTiles {
  large: MatmulTile;
  small: MatmulTile;
}

/**
 * Tiles per adapter, first match on the adapter description wins. Measured on lavapipe (llvmpipe,
 * 256-bit, 2 cores, 2026-12-02; GFLOP/s at 1024³ per second of CPU time scaled to 2 cores, while
 * two training runs shared the machine): 16×(16 rows × 16 cols) 35; 64×(16×16) 33; 16×(16×32) 31;
 * 8×(16×16) 24; 16×(8×16) 18; 16×(8×8) 14. Large tiles waste lanes on small products (attention
 * over 48 keys), which keep the 16×(8×8) tile.
 */
const TILE_TABLE: [RegExp, MatmulTiles][] = [
  [/llvmpipe|lavapipe|swiftshader/i, {
    large: { workgroupX: 16, rows: 16, colVec4s: 4 },
    small: { workgroupX: 16, rows: 8, colVec4s: 2 },
  }],
];
/** GPUs run many invocations per SIMD unit: a wider workgroup with a smaller tile per invocation. */
const GPU_TILE: MatmulTile = { workgroupX: 64, rows: 4, colVec4s: 1 };

/** The measured tiles of a CPU adapter with this description, or undefined for a GPU. */
function cpuTiles(adapterDescription: string): MatmulTiles | undefined {
  return TILE_TABLE.find(([re]) => re.test(adapterDescription))?.[1];
}

/** The tile for an M×N product (N4 = ⌈N/4⌉) on an adapter with this description. */
export function tileFor(adapterDescription: string, m = Infinity, n4 = Infinity): MatmulTile {
  const tiles = cpuTiles(adapterDescription);
  if (!tiles) return GPU_TILE;
  const { large } = tiles;
  const big = m >= 4 * large.rows && n4 >= (large.workgroupX * large.colVec4s) / 2;
  return big ? large : tiles.small;
}

/** SIMD lanes of a CPU adapter's invocation group (llvmpipe runs 8 f32 lanes on 256-bit AVX). */
const MIN_WORKGROUP_X = 8;

/**
 * Shrinks the workgroup to the columns there are: with N = 48 (attention over 48 keys) a 16-wide
 * workgroup of 8-column tiles leaves 10 of its 16 invocations idle.
 */
export function narrowTile(tile: MatmulTile, n4: number): MatmulTile {
  const needed = Math.ceil(n4 / tile.colVec4s);
  let workgroupX = tile.workgroupX;
  while (workgroupX / 2 >= Math.max(needed, MIN_WORKGROUP_X)) workgroupX /= 2;
  return workgroupX === tile.workgroupX ? tile : { ...tile, workgroupX };
}

const kernels = new Map<string, Kernel>();
function cached(name: string, make: () => string): Kernel {
  let k = kernels.get(name);
  if (!k) kernels.set(name, k = { name, code: make() });
  return k;
}

// f32 values that round past f16's largest finite value become ±inf (a texture store might clamp),
// so that an overflow under loss scaling shows up as a non-finite gradient. B is rounded to f16 in
// the shader before its rgba16float store: Vulkan leaves the rounding of texel stores to the driver
// (lavapipe truncates), while the conversion rounds to nearest like A's.
const HALF_RANGE = `
fn half_range(v: vec4f) -> vec4f { return select(v, v * 3.0e38, abs(v) >= vec4f(65520.0)); }`;

/**
 * Packs B into the texture. With B not transposed and N a multiple of 4 (`rowsOfVec4s`), each texel
 * is one aligned vec4 of a B row: one load instead of four bounds-checked scalar loads.
 */
function packBKernel(
  transB: boolean,
  half: boolean,
  rowsOfVec4s: boolean,
  perGroup: number,
): Kernel {
  const at = transB ? "n * p.K + k" : "k * p.N + n";
  const gather = rowsOfVec4s
    ? `v = src[(base + k * p.N) / 4u + col];`
    : `for (var j = 0u; j < 4u; j++) {
      let n = col * 4u + j;
      if (n < p.N) { v[j] = src[base + ${at}]; }
    }`;
  const name = `matmul_pack_b_${rowsOfVec4s ? "v" : transB ? "t" : "n"}${half ? "_h" : ""}` +
    (perGroup > 1 ? `_r${perGroup}` : "");
  return cached(name, () => `
${half ? "enable f16;" : ""}
struct Params { rows: u32, cols: u32, K: u32, N: u32, Kp: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<${rowsOfVec4s ? "vec4f" : "f32"}>;
@group(0) @binding(2) var dst: texture_storage_2d<${half ? "rgba16float" : "rgba32float"}, write>;
${half ? HALF_RANGE : ""}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup)}
  let k = row % p.Kp;
  let base = (row / p.Kp) * p.K * p.N;
  var v = vec4f(0.0);
  if (k < p.K) {
    ${gather}
  }
  let t = row * p.cols + col;
  textureStore(dst, vec2u(t & ${TEXTURE_WIDTH - 1}u, t >> ${WIDTH_SHIFT}u), ${
    half ? "vec4f(vec4<f16>(half_range(v)))" : "v"
  });
}`);
}

function packAKernel(transA: boolean, half: boolean, perGroup: number): Kernel {
  const at = transA ? "k * p.M + m" : "m * p.K + k";
  const name = `matmul_pack_a_${transA ? "t" : "n"}${half ? "_h" : ""}` +
    (perGroup > 1 ? `_r${perGroup}` : "");
  return cached(name, () => `
${half ? "enable f16;" : ""}
struct Params { rows: u32, cols: u32, M: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<${half ? "vec4<f16>" : "vec4f"}>;
${half ? HALF_RANGE : ""}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup)}
  let m = row % p.M;
  let base = (row / p.M) * p.M * p.K;
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    let k = col * 4u + j;
    if (k < p.K) { v[j] = src[base + ${at}]; }
  }
  dst[row * p.cols + col] = ${half ? "vec4<f16>(half_range(v))" : "v"};
}`);
}

// A transposed operand with both dims multiples of 4 is packed by 4×4 blocks: an invocation loads
// four vec4s (four rows of the stored matrix) and stores their four columns, instead of 16 scalar
// loads for 4 vec4 stores; on lavapipe a load costs about the same whatever its width.
const transpose4 = (v: string, j: number) =>
  `vec4f(${v}0[${j}], ${v}1[${j}], ${v}2[${j}], ${v}3[${j}])`;

/** B stored [N, K] per matrix, K and N multiples of 4, into the texture by 4×4 blocks. */
function packBBlocksKernel(half: boolean, perGroup: number): Kernel {
  const name = `matmul_pack_b_t4${half ? "_h" : ""}${perGroup > 1 ? `_r${perGroup}` : ""}`;
  const store = (j: number) => {
    const v = transpose4("r", j);
    return `{
    let t = (row * 4u + ${j}u) * p.cols + col;
    textureStore(dst, vec2u(t & ${TEXTURE_WIDTH - 1}u, t >> ${WIDTH_SHIFT}u), ${
      half ? `vec4f(vec4<f16>(half_range(${v})))` : v
    });
  }`;
  };
  return cached(name, () => `
${half ? "enable f16;" : ""}
struct Params { rows: u32, cols: u32, K4: u32, N: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var dst: texture_storage_2d<${half ? "rgba16float" : "rgba32float"}, write>;
${half ? HALF_RANGE : ""}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup)}
  let at = (row / p.K4) * p.N * p.K4 + col * 4u * p.K4 + row % p.K4;
  let r0 = src[at];
  let r1 = src[at + p.K4];
  let r2 = src[at + 2u * p.K4];
  let r3 = src[at + 3u * p.K4];
  ${[0, 1, 2, 3].map(store).join("\n  ")}
}`);
}

/** A stored [K, M] per matrix, K and M multiples of 4, into K-contiguous vec4s by 4×4 blocks. */
function packABlocksKernel(half: boolean, perGroup: number): Kernel {
  const name = `matmul_pack_a_t4${half ? "_h" : ""}${perGroup > 1 ? `_r${perGroup}` : ""}`;
  const store = (i: number) =>
    `dst[(row * 4u + ${i}u) * p.cols + col] = ${
      half ? `vec4<f16>(half_range(${transpose4("c", i)}))` : transpose4("c", i)
    };`;
  return cached(name, () => `
${half ? "enable f16;" : ""}
struct Params { rows: u32, cols: u32, M4: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<${half ? "vec4<f16>" : "vec4f"}>;
${half ? HALF_RANGE : ""}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS}) {
  ${rowIndexCode(perGroup)}
  let at = (row / p.M4) * p.K * p.M4 + col * 4u * p.M4 + row % p.M4;
  let c0 = src[at];
  let c1 = src[at + p.M4];
  let c2 = src[at + 2u * p.M4];
  let c3 = src[at + 3u * p.M4];
  ${[0, 1, 2, 3].map(store).join("\n  ")}
}`);
}

/** How the product kernel writes C: whole vec4s of a row, or scalars. */
type ProductStore = "vec4" | "f32";

function productKernel(tile: MatmulTile, store: ProductStore, half: boolean): Kernel {
  const { workgroupX, rows, colVec4s } = tile;
  const rs = [...Array(rows).keys()];
  const cs = [...Array(colVec4s).keys()];
  const each = <T>(f: (r: number, c: number) => T) => rs.flatMap((r) => cs.map((c) => f(r, c)));
  const fetchB = (c: number, j: number) =>
    `let l${c}${j} = bBase + (k * 4u + ${j}u) * p.N4 + col4 + ${c}u;
    let b${c}${j} = textureLoad(bt, vec2u(l${c}${j} & ${
      TEXTURE_WIDTH - 1
    }u, l${c}${j} >> ${WIDTH_SHIFT}u), 0);`;
  const fmaRow = (r: number) =>
    `{
      let a = ${half ? "vec4f" : ""}(as_[aBase + ${r}u * p.K4 + k]);
      ${
      cs.map((c) =>
        `acc${r}${c} = fma(vec4f(a.w), b${c}3, fma(vec4f(a.z), b${c}2, ` +
        `fma(vec4f(a.y), b${c}1, fma(vec4f(a.x), b${c}0, acc${r}${c}))));`
      ).join("\n      ")
    }
    }`;
  // With N a multiple of 4 a row of C is whole vec4s: one store per accumulator.
  const storeAt = (r: number, c: number) =>
    store === "vec4"
      ? `if (col4 + ${c}u < p.N4) { cs[o / 4u + col4 + ${c}u] = acc${r}${c}; }`
      : `for (var j = 0u; j < 4u; j++) { let n = (col4 + ${c}u) * 4u + j; ` +
        `if (n < p.N) { cs[o + n] = acc${r}${c}[j]; } }`;
  const storeRow = (r: number) =>
    `if (row + ${r}u < p.M) {
    let o = cBase + (row + ${r}u) * p.N;
    ${cs.map((c) => storeAt(r, c)).join("\n    ")}
  }`;
  const name = `matmul_tex_${workgroupX}x${rows}x${colVec4s}_${store}` + (half ? "_h" : "");
  return cached(name, () => `
${half ? "enable f16;" : ""}
struct Params {
  M: u32, N: u32, K4: u32, N4: u32, aMat: u32, bMat: u32, rank: u32, batchOffset: u32,
  shape: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> as_: array<${half ? "vec4<f16>" : "vec4f"}>;
@group(0) @binding(2) var bt: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> cs: array<${store === "vec4" ? "vec4f" : "f32"}>;
@compute @workgroup_size(${workgroupX})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let batch = wid.z + p.batchOffset;
  var rem = batch;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let dim = p.shape[d / 4][d % 4];
    let c = rem % dim;
    rem = rem / dim;
    ia += c * p.sa[d / 4][d % 4];
    ib += c * p.sb[d / 4][d % 4];
  }
  let row = wid.y * ${rows}u;
  let col4 = gid.x * ${colVec4s}u;
  let aBase = ia * p.aMat + row * p.K4;
  let bBase = ib * p.bMat;
  let cBase = batch * p.M * p.N;
  ${each((r, c) => `var acc${r}${c} = vec4f(0.0);`).join("\n  ")}
  for (var k = 0u; k < p.K4; k++) {
    ${cs.flatMap((c) => [0, 1, 2, 3].map((j) => fetchB(c, j))).join("\n    ")}
    ${rs.map(fmaRow).join("\n    ")}
  }
  ${rs.map(storeRow).join("\n  ")}
}`);
}

/** One batched product: shapes, transposes and how the output batch maps onto the inputs. */
export interface MatmulProblem {
  /** Rows of C, columns of C, and the contracted length. */
  M: number;
  N: number;
  K: number;
  /** A is stored [K, M] per matrix instead of [M, K]. */
  transA: boolean;
  /** B is stored [N, K] per matrix instead of [K, N]. */
  transB: boolean;
  /** Number of A and B matrices stored (their batch sizes). */
  batchA: number;
  batchB: number;
  /** Batch dims of C (at most 8), and per dim the stride in A's and B's matrices (0 = broadcast). */
  batchShape: readonly number[];
  aBatchStrides: readonly number[];
  bBatchStrides: readonly number[];
  /** Round both operands to f16 while packing (needs `shader-f16`); the sums stay f32. */
  half?: boolean;
}

/**
 * C = op(A)·op(B) over the batch. `scratch(bytes)` supplies a temporary storage buffer for the
 * packed A when one is needed; the caller releases it after this call returns (the work is
 * recorded in order, so reuse by later dispatches is safe).
 */
export function matmulInto(
  a: GPUBuffer,
  b: GPUBuffer,
  c: GPUBuffer,
  problem: MatmulProblem,
  scratch: (bytes: number) => GPUBuffer,
): void {
  if (computesTranspose(info().description, problem.M, problem.N)) {
    // Cᵀ into scratch, then gathered into C. Storing Cᵀ's scalars straight at C's places (one
    // dispatch fewer) leaked about 1 MB of host memory per dispatch in lavapipe (Mesa 22.3).
    const { M, N } = problem;
    const batches = problem.batchShape.reduce((x, d) => x * d, 1);
    if (M * N * batches === 0) return;
    const ct = scratch(batches * M * N * 4);
    recordProduct(b, a, ct, transposed(problem), scratch, M % 4 === 0 ? "vec4" : "f32");
    stridedCopy(ct, c, [batches, M, N], [N * M, 1, M]);
  } else {
    recordProduct(a, b, c, problem, scratch, problem.N % 4 === 0 ? "vec4" : "f32");
  }
}

/**
 * A CPU adapter computes a product with few columns and many rows as Cᵀ = op(B)ᵀ·op(A)ᵀ. The
 * narrowest product tile still spans 8 SIMD lanes of 2 vec4s (64 columns), so below that the lanes
 * idle at full cost: on lavapipe 32×[768,768]·[768,N] takes ≈ 550 ms whether N is 8 or 64, and
 * as its transpose 81 ms (N 8), 151 (16), 294 (32, attention's P·V at head dim 32), 330 (64); at
 * N 128 the direct product is faster (149 against 179 ms), and with M < 8·N the transpose does not
 * pay (32×[128,128]·[128,32]: 19.6 direct, 21.9 transposed). Measured 2026-12-04, idle 2-core host.
 */
const TRANSPOSE_MAX_N = 64;
const TRANSPOSE_MIN_ROWS_PER_COLUMN = 8;

/** Whether an M×N product is computed as its transpose on this adapter. */
export function computesTranspose(adapterDescription: string, M: number, N: number): boolean {
  return cpuTiles(adapterDescription) !== undefined && N <= TRANSPOSE_MAX_N &&
    M >= TRANSPOSE_MIN_ROWS_PER_COLUMN * N;
}

/** The problem of Cᵀ = op(B)ᵀ·op(A)ᵀ: operands swapped, each with the other transpose. */
function transposed(p: MatmulProblem): MatmulProblem {
  return {
    M: p.N,
    N: p.M,
    K: p.K,
    transA: !p.transB,
    transB: !p.transA,
    batchA: p.batchB,
    batchB: p.batchA,
    batchShape: p.batchShape,
    aBatchStrides: p.bBatchStrides,
    bBatchStrides: p.aBatchStrides,
    half: p.half,
  };
}

function recordProduct(
  a: GPUBuffer,
  b: GPUBuffer,
  c: GPUBuffer,
  problem: MatmulProblem,
  scratch: (bytes: number) => GPUBuffer,
  store: ProductStore,
): void {
  const { M, N, K, transA, transB, batchA, batchB, batchShape } = problem;
  const half = problem.half ?? false;
  const batches = batchShape.reduce((x, d) => x * d, 1);
  if (M === 0 || N === 0 || batches === 0) return;
  if (batchShape.length > MAX_RANK) throw new Error(`matmul: batch rank must be ≤ ${MAX_RANK}`);
  const K4 = Math.max(1, Math.ceil(K / 4));
  const Kp = K4 * 4;
  const N4 = Math.ceil(N / 4);

  const reuse = fastPathsEnabled();
  let packedOnce: PackedTexture | null = null;
  const layout = `${transB}:${half}:${batchB}:${K}:${N}`;
  let tex = reuse ? findPacked(b, layout) : null;
  if (!tex) {
    tex = acquireTexture(batchB * Kp * N4, half ? "rgba16float" : "rgba32float");
    const perGroup = rowsPerGroup(N4);
    if (transB && K % 4 === 0 && N % 4 === 0 && K > 0) {
      dispatch(
        packBBlocksKernel(half, perGroup),
        [b, tex.view],
        [batchB * K4, N4, K4, N],
        rowGrid(N4, batchB * K4, perGroup),
      );
    } else {
      dispatch(
        packBKernel(transB, half, !transB && N % 4 === 0, perGroup),
        [b, tex.view],
        [batchB * Kp, N4, K, N, Kp],
        rowGrid(N4, batchB * Kp, perGroup),
      );
    }
    if (reuse) rememberPacked(b, layout, tex);
    else packedOnce = tex;
  }

  let packedA = a;
  if (half || transA || K % 4 !== 0 || K === 0) {
    const aVec4s = batchA * M * K4;
    packedA = scratch(aVec4s * (half ? 8 : 16));
    const perGroup = rowsPerGroup(K4);
    if (transA && M % 4 === 0 && K % 4 === 0) {
      dispatch(
        packABlocksKernel(half, perGroup),
        [a, packedA],
        [batchA * (M / 4), K4, M / 4, K],
        rowGrid(K4, batchA * (M / 4), perGroup),
      );
    } else {
      dispatch(
        packAKernel(transA, half, perGroup),
        [a, packedA],
        [batchA * M, K4, M, K],
        rowGrid(K4, batchA * M, perGroup),
      );
    }
  }

  const tile = narrowTile(tileFor(info().description, M, N4), N4);
  const groupsX = Math.ceil(N4 / (tile.colVec4s * tile.workgroupX));
  const groupsY = Math.ceil(M / tile.rows);
  if (groupsX > MAX_WORKGROUPS_PER_DIM || groupsY > MAX_WORKGROUPS_PER_DIM) {
    throw new Error(`matmul: [${M}, ${N}] output exceeds the dispatch grid`);
  }
  for (let offset = 0; offset < batches; offset += MAX_WORKGROUPS_PER_DIM) {
    dispatch(productKernel(tile, store, half), [packedA, tex.view, c], [
      M,
      N,
      K4,
      N4,
      M * K4,
      Kp * N4,
      batchShape.length,
      offset,
      ...packDims(batchShape),
      ...packDims(problem.aBatchStrides),
      ...packDims(problem.bBatchStrides),
    ], [groupsX, groupsY, Math.min(MAX_WORKGROUPS_PER_DIM, batches - offset)]);
  }
  if (packedOnce) releaseTexture(packedOnce);
}
