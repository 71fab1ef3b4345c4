/**
 * The one place that knows npm:image-size: validates image bytes by their header and returns the
 * format and dimensions, so a corrupt picture is skipped with a reason instead of being kept.
 *
 * @module
 */
import { imageSize } from "image-size";

/** Formats kept as images (what vision models accept). */
export const IMAGE_TYPES: readonly string[] = ["png", "jpg", "gif", "webp"];

/** A validated image. */
export interface ImageInfo {
  /** "png", "jpg", "gif" or "webp". */
  type: string;
  /** Width in pixels, from the header. */
  width: number;
  /** Height in pixels, from the header. */
  height: number;
}

/** Validates `bytes`; returns the image's info, or the reason it is rejected. */
export function checkImage(bytes: Uint8Array): ImageInfo | { error: string } {
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(bytes);
  } catch (e) {
    return { error: `corrupt image (${(e as Error).message})` };
  }
  const type = size.type ?? "unknown";
  if (!IMAGE_TYPES.includes(type)) {
    return { error: `unsupported image format ${type} (kept: ${IMAGE_TYPES.join(", ")})` };
  }
  if (!(size.width > 0 && size.height > 0)) {
    return { error: `corrupt image (${size.width}×${size.height} pixels)` };
  }
  return { type, width: size.width, height: size.height };
}
