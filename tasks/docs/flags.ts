/**
 * Flag parsing shared by the docs tasks: integers checked with an error that names the flag.
 *
 * @module
 */

/** Parses an integer flag value ≥ `min` (default 1), naming `flag` in the error. */
export function positiveInt(flag: string, value: string | undefined, min = 1): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min) {
    throw new Error(`${flag} expects an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}
