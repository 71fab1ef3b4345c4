import { assertEquals, assertThrows } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import { ops, tensor } from "../mod.ts";

gpuTest(
  "Tensor.write uploads host values in place, after the work recorded before it",
  async () => {
    const x = tensor([1, 2, 3, 4], [2, 2]);
    const view = x.reshape([4]);
    const doubled = ops.mul(x, 2); // recorded, not yet submitted: must read the old values
    x.write(Float32Array.of(5, 6, 7, 8));
    assertEquals(Array.from(await doubled.data()), [2, 4, 6, 8]);
    assertEquals(Array.from(await x.data()), [5, 6, 7, 8]);
    assertEquals(Array.from(await view.data()), [5, 6, 7, 8], "views share the data");
    const ids = tensor([0, 0, 0], [3], "i32").write([7, -1, 3]);
    assertEquals(Array.from(await ids.data()), [7, -1, 3]);
    const half = tensor([0, 0, 0], [3], "f16").write([0.5, -2, 1024]);
    assertEquals(Array.from(await half.data()), [0.5, -2, 1024]);
    assertThrows(() => x.write([1, 2, 3]), "3 values for tensor [2,2] of 4");
    for (const t of [x, view, doubled, ids, half]) t.dispose();
  },
);
