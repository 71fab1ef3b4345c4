/**
 * Keeps the GPU driver libraries that this process has loaded loaded until it exits.
 *
 * `deno test` runs each test file in its own worker, and each worker's WebGPU instance loads the
 * Vulkan and GL drivers and unloads them when the worker ends: a full suite loads Mesa's lavapipe
 * about 140 times in one process. Mesa 22.3's LLVM-based drivers do not survive that: now and
 * then the process aborts at exit, after every test passed, with glibc's "double free or
 * corruption" or "corrupted size vs. prev_size". Pinning the loaded drivers with
 * `dlopen(RTLD_NOLOAD | RTLD_NODELETE)` makes every later worker reuse the one loaded copy, as a
 * single program (a `deno task`) does anyway.
 */

const RTLD_LAZY = 0x1;
const RTLD_NOLOAD = 0x4;
const RTLD_NODELETE = 0x1000;
const DRIVER_LIBRARY =
  /\/(libvulkan[^/]*|[^/]*_dri|libLLVM[^/]*|libgallium[^/]*|libEGL[^/]*)\.so[^/]*$/;

/** Pins the driver libraries in /proc/self/maps; returns their paths (none off Linux/glibc). */
export function pinGpuDriverLibraries(): string[] {
  if (Deno.build.os !== "linux" || Deno.build.env !== "gnu") return [];
  const paths = new Set<string>();
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    const path = line.slice(line.indexOf("/"));
    if (line.includes("/") && DRIVER_LIBRARY.test(path)) paths.add(path);
  }
  const libc = Deno.dlopen("libc.so.6", {
    dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  });
  try {
    for (const path of paths) {
      const handle = libc.symbols.dlopen(
        new TextEncoder().encode(path + "\0"),
        RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE,
      );
      if (handle === null) throw new Error(`could not pin the loaded GPU driver ${path}`);
    }
  } finally {
    libc.close();
  }
  return [...paths];
}
