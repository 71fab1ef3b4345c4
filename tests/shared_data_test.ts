import { assert, assertEquals } from "./assert.ts";
import { isCI } from "./shared_data.ts";

Deno.test("CI counts as CI unless it is empty, 0 or false", () => {
  const before = Deno.env.get("CI");
  try {
    const cases: [string | undefined, boolean][] = [
      [undefined, false],
      ["", false],
      ["false", false],
      ["FALSE", false],
      ["0", false],
      ["true", true],
      ["1", true],
      ["yes", true],
    ];
    for (const [value, expected] of cases) {
      if (value === undefined) Deno.env.delete("CI");
      else Deno.env.set("CI", value);
      assertEquals(isCI(), expected, `CI=${value}`);
    }
  } finally {
    if (before === undefined) Deno.env.delete("CI");
    else Deno.env.set("CI", before);
  }
});

/** Runs the probe's one data test (its data absent) under `CI=value`; returns exit code and output. */
async function runProbe(value: string): Promise<{ code: number; output: string }> {
  const probe = new URL("./shared_data_probe.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", probe],
    env: { CI: value, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { code, output };
}

Deno.test("a data test whose data is absent fails in CI and is ignored, by name, outside", async () => {
  const name = "a test whose data is absent (needs ../shared/data/no/such/file.json; ignored " +
    "without it, except in CI)";
  const ci = await runProbe("true");
  assertEquals(ci.code, 1, ci.output);
  assert(ci.output.includes(`${name} ... FAILED`), ci.output);
  assert(
    ci.output.includes("CI=true: this test needs ") &&
      ci.output.includes(
        "shared/data/no/such/file.json, which is missing; CI must provide " +
          "../shared/data",
      ),
    ci.output,
  );
  for (const value of ["false", ""]) {
    const local = await runProbe(value);
    assertEquals(local.code, 0, local.output);
    assert(local.output.includes(`${name} ... ignored`), local.output);
  }
});
