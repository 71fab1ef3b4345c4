import assert from "node:assert/strict";
import { fetchFiles, type RemoteFile } from "../datasets/fetch.ts";
import { dataFetch } from "../tasks/data_fetch.ts";

const FIXTURES = new URL("./fixtures/absa/", import.meta.url).pathname;

/** Serves fixture files on 127.0.0.1 under /data/<remote path>; counts requests. */
function serveFixtures(routes: Record<string, string>) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    requests++;
    const path = new URL(req.url).pathname.replace(/^\/data\//, "");
    const file = routes[path];
    return file
      ? new Response(Deno.readFileSync(FIXTURES + file))
      : new Response("not found", { status: 404 });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/data`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", Deno.readFileSync(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("data:fetch downloads, verifies and skips existing files", async () => {
  const server = serveFixtures({
    "MAMS-ATSA/raw/train.xml": "mams_atsa_small.xml",
    "MAMS-ACSA/raw/train.xml": "mams_acsa_small.xml",
  });
  const dest = await Deno.makeTempDir();
  try {
    const files: RemoteFile[] = [
      {
        remote: "MAMS-ATSA/raw/train.xml",
        local: "mams/atsa/train.xml",
        sha256: await sha256(FIXTURES + "mams_atsa_small.xml"),
      },
      { remote: "MAMS-ACSA/raw/train.xml", local: "mams/acsa/train.xml" },
    ];
    const first = await fetchFiles({ dest, baseUrl: server.baseUrl, files });
    assert.deepEqual(first.map((r) => r.status), ["downloaded", "downloaded"]);
    assert.deepEqual(
      Deno.readFileSync(`${dest}/mams/atsa/train.xml`),
      Deno.readFileSync(FIXTURES + "mams_atsa_small.xml"),
    );
    const again = await fetchFiles({ dest, baseUrl: server.baseUrl, files });
    assert.deepEqual(again.map((r) => r.status), ["skipped", "skipped"]);
    assert.equal(server.requests(), 2);
    await fetchFiles({ dest, baseUrl: server.baseUrl, files, force: true });
    assert.equal(server.requests(), 4);
  } finally {
    await server.close();
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("data:fetch rejects a wrong hash, bad XML and HTTP errors, leaving no file", async () => {
  const server = serveFixtures({
    "good.xml": "mams_atsa_small.xml",
    "bad.xml": "bad/offset_mismatch.xml",
  });
  const dest = await Deno.makeTempDir();
  try {
    const run = (file: RemoteFile) => fetchFiles({ dest, baseUrl: server.baseUrl, files: [file] });
    await assert.rejects(
      run({ remote: "good.xml", local: "a.xml", sha256: "0".repeat(64) }),
      /good\.xml: sha256 [0-9a-f]{64} does not match/,
    );
    await assert.rejects(run({ remote: "bad.xml", local: "b.xml" }), /bad\.xml: 1 problem/);
    await assert.rejects(run({ remote: "missing.xml", local: "c.xml" }), /missing\.xml: HTTP 404/);
    assert.deepEqual([...Deno.readDirSync(dest)], [], "nothing written");
  } finally {
    await server.close();
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("data:fetch command: a 404 from the official layout is reported with its URL", async () => {
  const server = serveFixtures({});
  const dest = await Deno.makeTempDir();
  try {
    await assert.rejects(
      dataFetch(["--dest", dest, "--base-url", server.baseUrl], () => {}),
      /\/data\/MAMS-ATSA\/raw\/train\.xml: HTTP 404/,
    );
  } finally {
    await server.close();
    await Deno.remove(dest, { recursive: true });
  }
});
