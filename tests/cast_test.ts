import { assert, assertEquals } from "./assert.ts";
import { assertClose, gpuTest } from "./helpers.ts";
import { ops, rand, tensor, tidy } from "../mod.ts";

/** The host's IEEE round-to-nearest-even f32 → f16 → f32, the oracle for the GPU conversion. */
function viaHalf(values: ArrayLike<number>): number[] {
  return Array.from(Float16Array.from(values as number[]));
}

/** Values over f16's whole range: normals, subnormals, halfway cases, overflow and specials. */
const SPECIAL = [
  0,
  -0,
  1,
  -1,
  0.1,
  1 / 3,
  65504,
  65519,
  65520,
  -65520,
  1e6,
  -1e6,
  Infinity,
  -Infinity,
  NaN,
  2 ** -14,
  2 ** -14 * (1 - 2 ** -11),
  2 ** -24,
  2 ** -25,
  2 ** -25 * 1.01,
  3 * 2 ** -25,
  1e-8,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  2049,
  2051,
  -4097.5,
];

gpuTest("f32 → f16 → f32 rounds to nearest even like IEEE, for odd and even lengths", async () => {
  const random = rand([1001], { low: -300, high: 300, seed: 9 });
  const randomValues = Array.from(await random.data());
  random.dispose();
  for (const values of [SPECIAL, randomValues, [0.3], randomValues.slice(0, 8)]) {
    const back = tidy(() => ops.cast(ops.cast(tensor(values, [values.length]), "f16"), "f32"));
    const got = Array.from(await back.data());
    const want = viaHalf(values);
    // Exact match with IEEE rounding, which bounds the error by 2⁻¹¹ relative for normals.
    got.forEach((g, i) => {
      const same = Object.is(g, want[i]) || (Number.isNaN(g) && Number.isNaN(want[i]));
      assert(same, `value ${values[i]}: got ${g}, expected ${want[i]}`);
      if (Number.isFinite(want[i]) && Math.abs(values[i]) >= 2 ** -14) {
        assert(Math.abs(g - values[i]) <= 2 ** -11 * Math.abs(values[i]), `${values[i]}`);
      }
    });
    back.dispose();
  }
});

gpuTest("f16 data uploaded from the host casts to f32 and i32 exactly", async () => {
  const values = [1.5, -2.25, 65504, -Infinity, 2 ** -24, 7.99];
  const h = tensor(values, [values.length], "f16");
  const f = ops.cast(h, "f32");
  const i = ops.cast(h, "i32");
  assertEquals(Array.from(await f.data()), viaHalf(values));
  assertEquals(Array.from(await i.data()), [1, -2, 65504, -2147483648, 0, 7]);
  for (const t of [h, f, i]) t.dispose();
});

gpuTest("f32 → i32 truncates toward zero, saturates and maps NaN to 0; i32 → f32/f16", async () => {
  const x = tensor([2.7, -2.7, 0.5, -0.5, 3e9, -3e9, NaN, 16777217], [8]);
  const i = ops.cast(x, "i32");
  assertEquals(i.dtype, "i32");
  assertEquals(Array.from(await i.data()), [
    2,
    -2,
    0,
    0,
    2147483647 - 127,
    -2147483648,
    0,
    16777216,
  ]);
  const ints = [0, 1, -7, 2049, 123456789, -2147483648, 2147483647];
  const n = tensor(ints, [7], "i32");
  const f = ops.cast(n, "f32");
  const h = ops.cast(n, "f16");
  assertEquals(Array.from(await f.data()), Array.from(Float32Array.from(ints)));
  assertEquals(Array.from(await h.data()), viaHalf(ints));
  for (const t of [x, i, n, f, h]) t.dispose();
});

gpuTest("gradients flow through f32 ↔ f16 casts and stop at i32", async () => {
  const n = 13;
  const x = rand([n], { seed: 4 }).requireGrad();
  const w = rand([n], { low: -3, high: 3, seed: 5 });
  const y = tidy(() => {
    const out = ops.cast(ops.cast(x, "f16"), "f32");
    ops.sum(ops.mul(out, w)).backward();
    return out;
  });
  // The gradient w passes through one f16 rounding on the way back: exactly f16(w).
  assertEquals(Array.from(await x.grad!.data()), viaHalf(await w.data()));
  assertClose(await y.data(), await x.data(), 0, 2 ** -11, "round trip within f16 precision");
  const asInt = ops.cast(x, "i32");
  assertEquals(asInt.requiresGrad, false);
  const same = ops.cast(x, "f32");
  assert(same.requiresGrad && same.buffer === x.buffer, "same-dtype cast is a view on the tape");
  for (const t of [x, w, y, asInt, same]) t.dispose();
});
