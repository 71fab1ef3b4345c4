/**
 * Strict UTF-8 decoding for data files: a file with a bad byte is refused with the byte offset and
 * line of the first bad sequence, never decoded with U+FFFD replacements that readers would then
 * misreport (or silently keep).
 *
 * @module
 */

/** Bytes that are not valid UTF-8; `offset` is the 0-based byte offset of the first bad sequence. */
export class InvalidUtf8Error extends Error {
  /** Builds the error for the bad sequence `bytes` at `offset` (on 1-based `line`), then `next`. */
  constructor(
    readonly offset: number,
    readonly line: number,
    readonly bytes: number[],
    readonly next: number | undefined,
  ) {
    const hex = (b: number) => `0x${b.toString(16).padStart(2, "0")}`;
    const what = !isLead(bytes[0])
      ? `byte ${hex(bytes[0])} cannot start a UTF-8 character`
      : `${bytes.map(hex).join(" ")} begins a UTF-8 character that is not completed (${
        next === undefined ? "the file ends" : `the next byte is ${hex(next)}`
      })`;
    super(
      `not valid UTF-8 at byte offset ${offset} (line ${line}): ${what}; ` +
        "save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
    );
    this.name = "InvalidUtf8Error";
  }
}

function isLead(b: number): boolean {
  return b >= 0xc2 && b <= 0xf4;
}

/**
 * The first invalid sequence in `bytes` as [offset, length], or null when all of it is UTF-8; the
 * length covers the bytes of the incomplete character (a bad lead byte alone has length 1).
 * Follows the Unicode/WHATWG rules: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
export function firstInvalidUtf8(bytes: Uint8Array): [number, number] | null {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number, lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return [i, 1];
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < lo || c > hi) return [i, k];
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return null;
}

/** Decodes UTF-8 (a leading BOM is dropped); throws {@linkcode InvalidUtf8Error} on a bad byte. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    if (bad === null) throw new Error("decodeUtf8: the decoder and the validator disagree");
    const [offset, length] = bad;
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    const sequence = [...bytes.subarray(offset, offset + length)];
    throw new InvalidUtf8Error(offset, line, sequence, bytes[offset + length]);
  }
}
