/**
 * Runs the peer implementations as subprocesses on the same shapes: tfjs on WebGPU, jax-js on
 * WebGPU and WASM (Deno scripts in bench/peers/), and PyTorch on the CPU (Python). Each prints
 * one JSON record per line on stdout and `note: …` lines on stderr; a peer that fails to start or
 * load says why in a note and the run goes on.
 *
 * @module
 */
import type { BenchRecord, Group } from "./harness.ts";
import { benchShapes } from "./shapes.ts";
import { caseInfos } from "./case_info.ts";

/** A peer and how to launch it. */
interface Peer {
  impl: string;
  command: string;
  args: string[];
}

const here = new URL(".", import.meta.url).pathname;

function denoPeer(impl: string, script: string, extra: string[] = []): Peer {
  return {
    impl,
    command: Deno.execPath(),
    args: ["run", "--allow-all", `${here}peers/${script}`, ...extra],
  };
}

/** The peers in run order. */
export const PEERS: Peer[] = [
  denoPeer("tfjs-webgpu", "tfjs.ts"),
  denoPeer("jax-js-webgpu", "jax.ts", ["--device", "webgpu"]),
  denoPeer("jax-js-wasm", "jax.ts", ["--device", "wasm"]),
  { impl: "pytorch-cpu", command: "python3", args: [`${here}peers/torch_cpu.py`] },
];

/** Shapes and case infos for the Python peer, which cannot import them. */
function pythonSpec(tiny: boolean): unknown {
  const shapes = benchShapes(tiny);
  const infos = caseInfos(shapes);
  return {
    shapes,
    infos: {
      ...infos,
      mlpStep: infos.mlpStep("step"),
      transformerStep: infos.transformerStep("step"),
    },
  };
}

/**
 * The PyTorch peer's environment: ours without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE. Some hosts
 * set both (older OpenBLAS builds misbehave on their CPUs), which pins a current OpenBLAS to a
 * slower kernel; the peer then reports the kernel OpenBLAS picks by itself. Only this child's
 * environment changes, never the tests' or CI's.
 */
export function peerBlasEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/**
 * The first Python that can `import torch`: $FAST_CLARA_PYTHON, `python3` on the PATH, then the
 * system's /usr/bin/python3 (where Debian's python3-torch lands even when a pyenv shim comes
 * first on the PATH). Returns the interpreter, or why none works.
 */
async function findTorchPython(): Promise<{ python: string } | { why: string }> {
  const candidates = [Deno.env.get("FAST_CLARA_PYTHON"), "python3", "/usr/bin/python3"];
  const reasons: string[] = [];
  for (const python of candidates) {
    if (!python) continue;
    try {
      const out = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (out.success) return { python };
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
      reasons.push(`${python}: ${err}`);
    } catch (e) {
      reasons.push(`${python}: ${(e as Error).message}`);
    }
  }
  return { why: reasons.join("; ") };
}

/**
 * Runs one peer over `groups`, streaming each record to `emit` and each note to `note`. Args
 * common to all peers: `--groups a,b` and `--tiny`.
 */
export async function runPeer(
  peer: Peer,
  groups: Group[],
  tiny: boolean,
  emit: (r: BenchRecord) => void,
  note: (line: string) => void,
): Promise<void> {
  let command = peer.command;
  const args = [...peer.args, "--groups", groups.join(","), ...(tiny ? ["--tiny"] : [])];
  if (peer.impl === "pytorch-cpu") {
    const found = await findTorchPython();
    if ("why" in found) {
      note(
        `pytorch-cpu skipped: no python can import torch (${found.why}); ` +
          "install it and OpenBLAS with `sh bench/setup.sh`",
      );
      return;
    }
    command = found.python;
    args.push("--spec", JSON.stringify(pythonSpec(tiny)));
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
      ...(peer.impl === "pytorch-cpu" ? { env: peerBlasEnv(), clearEnv: true } : {}),
    }).spawn();
  } catch (e) {
    note(`${peer.impl} skipped: cannot start ${command} (${(e as Error).message})`);
    return;
  }
  const stderrLines: string[] = [];
  const [status] = await Promise.all([
    child.status,
    eachLine(child.stdout, (line) => {
      if (line.startsWith("{")) emit(JSON.parse(line) as BenchRecord);
    }),
    eachLine(child.stderr, (line) => {
      if (line.startsWith("note: ")) note(`${peer.impl}: ${line.slice(6)}`);
      else stderrLines.push(line);
    }),
  ]);
  if (!status.success) {
    const tail = stderrLines.filter((l) => l.trim()).slice(-3).join(" / ");
    note(`${peer.impl} exited with code ${status.code}: ${tail}`);
  }
}

async function eachLine(stream: ReadableStream<Uint8Array>, fn: (line: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const l of lines) fn(l);
  }
  if (rest) fn(rest);
}
