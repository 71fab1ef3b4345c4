/**
 * The few assertions the tests use (jsr:@std/assert is unreachable here). Each throws with a
 * message that says what was expected.
 */

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

/** Deep equality through JSON for plain data. */
export function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message ? message + ": " : ""}expected ${e}, got ${a}`);
}

/** Awaits `fn` and asserts that it rejects with an instance of `type`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e}`);
  }
  throw new Error(`expected ${type.name} to be thrown, nothing was`);
}

/** Asserts that `fn` throws an error whose message includes `fragment`. */
export function assertThrows(fn: () => unknown, fragment: string): Error {
  try {
    fn();
  } catch (e) {
    const err = e as Error;
    if (!err.message.includes(fragment)) {
      throw new Error(`expected an error mentioning "${fragment}", got "${err.message}"`);
    }
    return err;
  }
  throw new Error(`expected an error mentioning "${fragment}", nothing was thrown`);
}
