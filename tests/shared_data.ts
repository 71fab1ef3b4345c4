/**
 * Tests that read `../shared/data` (the data the project does not ship) and what counts as CI.
 * Kept apart from helpers.ts so that data tests do not start WebGPU.
 */

/**
 * Whether this run is CI: `CI` is set to anything but "", "0" or "false" (any case), so that
 * `CI=false` does not count.
 */
export function isCI(): boolean {
  const value = Deno.env.get("CI")?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

/** `../shared/data/` beside the project root. */
export const SHARED_DATA: string = new URL("../../shared/data/", import.meta.url).pathname;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deno.test for a test that reads `paths` under {@linkcode SHARED_DATA}; its name says that it
 * needs them. Outside CI it is ignored when one is absent; in CI it runs regardless and fails,
 * naming what is missing, so a CI run without the data cannot pass by skipping.
 */
export function sharedDataTest(
  name: string,
  paths: string[],
  fn: () => Promise<void> | void,
): void {
  const missing = paths.filter((p) => !exists(SHARED_DATA + p));
  Deno.test({
    name: `${name} (needs ../shared/data/${paths.join(", ")}; ignored without it, except in CI)`,
    ignore: missing.length > 0 && !isCI(),
    fn: missing.length === 0 ? fn : () => {
      throw new Error(
        `CI=${Deno.env.get("CI")}: this test needs ${
          missing.map((p) => SHARED_DATA + p).join(", ")
        }, which is missing; CI must provide ../shared/data`,
      );
    },
  });
}
