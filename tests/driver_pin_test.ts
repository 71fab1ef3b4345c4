import { assert } from "./assert.ts";
import { hasWebGPU } from "./helpers.ts";
import { pinGpuDriverLibraries } from "./driver_pin.ts";

Deno.test({
  name: "the loaded GPU driver libraries are found and pinned, again without error (Linux, glibc)",
  ignore: !hasWebGPU || Deno.build.os !== "linux" || Deno.build.env !== "gnu",
  fn() {
    const pinned = pinGpuDriverLibraries();
    assert(pinned.some((p) => /\/libvulkan[^/]*\.so/.test(p)), `no Vulkan library in ${pinned}`);
    assert(pinned.every((p) => p.startsWith("/")), `not absolute paths: ${pinned}`);
    assert(pinGpuDriverLibraries().length === pinned.length, "a second pin found other libraries");
  },
});
