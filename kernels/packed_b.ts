/**
 * The textures that hold matmul's packed B operands: a pool of free textures by format and
 * height, and the cache of packed operands reused while their source buffer is unchanged.
 *
 * @module
 */
import { gpu as gpuDevice } from "../core/device.ts";
import { counters, lastWriteTick, writeTick } from "./runtime.ts";

/** Texels per row of the packed-B texture (a power of two: addresses split by mask and shift). */
export const TEXTURE_WIDTH = 4096;
/** log2 of {@linkcode TEXTURE_WIDTH}. */
export const WIDTH_SHIFT = Math.log2(TEXTURE_WIDTH);

/** A texture of packed B and its view. */
export interface PackedTexture {
  texture: GPUTexture;
  view: GPUTextureView;
}

/** Free packed-B textures by format and height. Dispatches run in recording order, so a texture can
 * be reused by the next matmul as soon as this one's product dispatch is recorded. */
const freeTextures = new Map<string, PackedTexture[]>();

/** A free texture (from the pool, else created) that holds at least `texels` texels. */
export function acquireTexture(
  texels: number,
  format: GPUTextureFormat,
): PackedTexture {
  const height = 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(texels / TEXTURE_WIDTH))));
  const pooled = freeTextures.get(`${format}:${height}`)?.pop();
  if (pooled) return pooled;
  const d = gpuDevice();
  if (height > d.limits.maxTextureDimension2D) {
    throw new Error(
      `matmul: B holds ${texels * 4} values, more than one ${TEXTURE_WIDTH}×` +
        `${d.limits.maxTextureDimension2D} ${format} texture can pack`,
    );
  }
  counters.textures++;
  const texture = d.createTexture({
    size: [TEXTURE_WIDTH, height],
    format,
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
    label: "matmul_packed_b",
  });
  return { texture, view: texture.createView() };
}

/** Returns a texture to the pool. */
export function releaseTexture(t: PackedTexture): void {
  const key = `${t.texture.format}:${t.texture.height}`;
  let list = freeTextures.get(key);
  if (!list) freeTextures.set(key, list = []);
  list.push(t);
}

/** A packed B kept for reuse: the buffer it was packed from, its layout, and the write tick then. */
interface PackedB {
  buffer: GPUBuffer;
  layout: string;
  tick: number;
  texture: PackedTexture;
  bytes: number;
}

/**
 * Packed B operands by recency (most recent last), reused while their buffer has not been
 * written since it was packed (a weight is packed once per step for every phase that reads it,
 * instead of once per product). Bounded in entries and bytes; evicted textures go back to the pool.
 */
const packedCache: PackedB[] = [];
const PACKED_CACHE_ENTRIES = 64;
const PACKED_CACHE_BYTES = 128 * 2 ** 20;
let packedCacheBytes = 0;

function evictPacked(index: number): void {
  const [e] = packedCache.splice(index, 1);
  packedCacheBytes -= e.bytes;
  releaseTexture(e.texture);
}

/** The cached packing of `buffer` in `layout`, if it is still current (then it is the most recent). */
export function findPacked(
  buffer: GPUBuffer,
  layout: string,
): PackedTexture | null {
  const i = packedCache.findIndex((e) => e.buffer === buffer && e.layout === layout);
  if (i < 0) return null;
  const e = packedCache[i];
  if (lastWriteTick(buffer) > e.tick) {
    evictPacked(i);
    return null;
  }
  packedCache.splice(i, 1);
  packedCache.push(e);
  return e.texture;
}

/** Caches `texture`, just packed from `buffer` in `layout`, evicting the least recent beyond the bounds. */
export function rememberPacked(
  buffer: GPUBuffer,
  layout: string,
  texture: PackedTexture,
): void {
  const bytes = texture.texture.width * texture.texture.height *
    (texture.texture.format === "rgba16float" ? 8 : 16);
  packedCache.push({ buffer, layout, tick: writeTick(), texture, bytes });
  packedCacheBytes += bytes;
  while (
    packedCache.length > PACKED_CACHE_ENTRIES ||
    (packedCacheBytes > PACKED_CACHE_BYTES && packedCache.length > 1)
  ) {
    evictPacked(0);
  }
}

/** Packed B operands held for reuse now, and their bytes (for memory tests). */
export function packedCacheStats(): { entries: number; bytes: number } {
  return { entries: packedCache.length, bytes: packedCacheBytes };
}
