import { assert, assertEquals, assertRejects } from "./assert.ts";
import { gpuTest } from "./helpers.ts";
import {
  counters,
  keep,
  ops,
  poolStats,
  type Tensor,
  tensor,
  tidy,
  WebGPUError,
  zeros,
} from "../mod.ts";
import { dispatch } from "../kernels/runtime.ts";

gpuTest("a WebGPU validation error is thrown at the next readback, naming the op", async () => {
  const x = zeros([4]);
  dispatch({ name: "deliberately_broken_kernel", code: "fn main( {" }, [x.buffer], [4], [1]);
  const err = await assertRejects(() => x.data(), WebGPUError);
  assert(err.message.includes("deliberately_broken_kernel"), err.message);
  x.dispose();
  // The runtime recovers: later work succeeds.
  const y = tensor([1, 2], [2]);
  assertEquals(Array.from(await y.data()), [1, 2]);
  y.dispose();
});

gpuTest("tidy disposes intermediates and returns buffers to the pool for reuse", async () => {
  const a = tensor([1, 2, 3, 4], [4]);
  const before = poolStats();
  const out = tidy(() => ops.sum(ops.mul(ops.add(a, 1), 2)));
  assertEquals(await out.item(), 28);
  out.dispose();
  const after = poolStats();
  assertEquals(after.liveBuffers, before.liveBuffers);
  const created = after.createdBuffers;
  tidy(() => ops.sum(ops.mul(ops.add(a, 1), 2)));
  assertEquals(poolStats().createdBuffers, created, "second run must reuse pooled buffers");
  a.dispose();
});

gpuTest("a tidy whose fn throws disposes what it created, except kept tensors", () => {
  const a = tensor([1, 2, 3, 4], [4]);
  const live = poolStats().liveBuffers;
  let kept: Tensor | null = null;
  try {
    tidy(() => {
      ops.add(a, 1);
      kept = keep(ops.mul(a, 2));
      throw new Error("deliberate");
    });
  } catch (e) {
    assertEquals((e as Error).message, "deliberate");
  }
  assertEquals(poolStats().liveBuffers, live + 1, "only the kept tensor stays alive");
  kept!.dispose();
  a.dispose();
});

gpuTest("ops are batched: no submit happens until data is read", async () => {
  const a = tensor([1, 2, 3], [3]);
  const submits = counters.submits;
  const y = tidy(() => ops.exp(ops.neg(ops.mul(a, a))));
  assertEquals(counters.submits, submits, "recording ops must not submit");
  await y.data();
  assertEquals(counters.submits, submits + 1);
  a.dispose();
  y.dispose();
});

gpuTest("using a disposed tensor throws a clear error", () => {
  const a = tensor([1], [1]);
  a.dispose();
  let message = "";
  try {
    ops.exp(a);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("after dispose"), message);
});

gpuTest("backward through a graph whose intermediates a scope disposed throws", () => {
  const w = tensor([1, 2], [2]).requireGrad();
  const loss = tidy(() => ops.sum(ops.mul(ops.exp(w), 2)));
  let message = "";
  try {
    loss.backward();
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("disposed before backward()"), message);
  assertEquals(w.grad, null);
  loss.dispose();
  w.dispose();
});
