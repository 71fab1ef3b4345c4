/**
 * Memory scopes. Ownership rule: every tensor belongs to the innermost `tidy` scope that was open
 * when it was created; when the scope ends, it disposes all it owns except the tensors returned
 * from the function (moved to the enclosing scope) and those passed to `keep`. Outside any scope
 * the caller owns a tensor and calls `dispose()`.
 *
 * @module
 */

/** Anything with a GPU lifetime that a scope can end. */
export interface Disposable {
  /** Releases the GPU memory held. */
  dispose(): void;
  /** True once released. */
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

/** Registers a new tensor with the innermost open scope (called by the tensor constructor). */
export function track(t: Disposable): void {
  scopes.at(-1)?.add(t);
}

/** Removes a tensor from every scope so that it outlives them; the caller must dispose it. */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 3) return;
  if ("dispose" in value && "isDisposed" in value) {
    out.add(value as Disposable);
    return;
  }
  const items = Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, out, depth + 1);
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created except those it returns
 * (a tensor, or arrays/objects of tensors) and those kept with {@linkcode keep}. When `fn`
 * throws, every tensor it created and did not keep is disposed before the error propagates.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    for (const t of scope) if (!kept.has(t) && !t.isDisposed) t.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new Error("tidy(fn) needs a synchronous fn: await readbacks after the scope ends");
  }
  const returned = new Set<Disposable>();
  collect(result, returned);
  const parent = scopes.at(-1);
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else if (!kept.has(t) && !t.isDisposed) t.dispose();
  }
  return result;
}
