/**
 * Base64 of bytes (for `data:` URIs sent to vision models), in slices so large images do not
 * overflow the argument list of `String.fromCharCode`.
 *
 * @module
 */

/** Base64 text of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
