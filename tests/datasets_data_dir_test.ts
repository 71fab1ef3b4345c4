import assert from "node:assert/strict";
import { DataDirNotFoundError, resolveDataDir } from "../datasets/data_dir.ts";

function withTree(fn: (root: string) => void): void {
  const root = Deno.makeTempDirSync({ prefix: "datadir_" });
  try {
    Deno.mkdirSync(`${root}/project`);
    fn(root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

const noEnv = () => undefined;

Deno.test("data dir: the flag wins and is the only place searched", () => {
  withTree((root) => {
    Deno.mkdirSync(`${root}/project/data`);
    Deno.mkdirSync(`${root}/mine`);
    assert.equal(resolveDataDir({ flag: `${root}/mine`, cwd: `${root}/project` }), `${root}/mine`);
    assert.throws(
      () => resolveDataDir({ flag: "missing", cwd: `${root}/project`, env: noEnv }),
      (e: Error) =>
        e instanceof DataDirNotFoundError && e.searched.length === 1 &&
        e.message.includes(`--data flag: ${root}/project/missing (does not exist)`),
    );
  });
});

Deno.test("data dir: environment variable, then ./data, then ../shared/data", () => {
  withTree((root) => {
    const cwd = `${root}/project`;
    Deno.mkdirSync(`${root}/shared/data`, { recursive: true });
    assert.equal(resolveDataDir({ cwd, env: noEnv }), `${root}/shared/data`);
    Deno.mkdirSync(`${cwd}/data`);
    assert.equal(resolveDataDir({ cwd, env: noEnv }), `${cwd}/data`);
    Deno.mkdirSync(`${root}/env_dir`);
    const env = (name: string) => name === "CLARA_DATA_DIR" ? `${root}/env_dir` : undefined;
    assert.equal(resolveDataDir({ cwd, env }), `${root}/env_dir`);
  });
});

Deno.test("data dir: nothing found lists every place searched", () => {
  withTree((root) => {
    const cwd = `${root}/project`;
    Deno.mkdirSync(`${cwd}/data`);
    const env = () => `${root}/gone`;
    try {
      resolveDataDir({ cwd, env, mustContain: "mams/atsa" });
      assert.fail("expected an error");
    } catch (e) {
      assert.ok(e instanceof DataDirNotFoundError);
      assert.deepEqual(e.searched.map((s) => [s.path, s.reason]), [
        [`${root}/gone`, "does not exist"],
        [`${cwd}/data`, "has no mams/atsa"],
        [`${root}/shared/data`, "does not exist"],
      ]);
      assert.match(e.message, /\$CLARA_DATA_DIR: .*gone/);
    }
  });
});
