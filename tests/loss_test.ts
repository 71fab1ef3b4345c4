import { checkOp, cpuBinary, gpuTest, type HostTensor, numel } from "./helpers.ts";
import { assert, assertEquals } from "./assert.ts";
import { ops, tensor, tidy } from "../mod.ts";
import { Rng } from "../core/random.ts";

// Forward tolerance 1e-5 + 1e-4 relative: each row loss is lse − x_t with an f32 log-sum-exp over
// ≤ 130 terms (relative error ≲ 1e-5); a mean or sum over ≤ 15 rows adds little.
// Gradient tolerance (checkOp default 1e-4 + 1e-3 relative): softmax − q is O(1) in f32 and the
// f64 central difference is exact to ~1e-9.

type Reduction = "mean" | "sum" | "none";

/** f64 reference of PyTorch's cross_entropy with ignore_index and label_smoothing. */
function cpuCrossEntropy(
  x: HostTensor,
  targets: number[],
  o: { ignoreIndex?: number; labelSmoothing?: number; reduction?: Reduction },
): HostTensor {
  const cols = x.shape.at(-1)!;
  const eps = o.labelSmoothing ?? 0;
  const ignore = o.ignoreIndex ?? -100;
  const losses = targets.map((t, r) => {
    if (t === ignore) return 0;
    const row = Array.from(x.values.subarray(r * cols, (r + 1) * cols));
    const top = Math.max(...row);
    const lse = top + Math.log(row.reduce((s, v) => s + Math.exp(v - top), 0));
    const smooth = row.reduce((s, v) => s + (lse - v), 0) / cols;
    return (1 - eps) * (lse - row[t]) + eps * smooth;
  });
  const reduction = o.reduction ?? "mean";
  if (reduction === "none") {
    return { shape: x.shape.slice(0, -1), values: Float64Array.from(losses) };
  }
  const total = losses.reduce((s, v) => s + v, 0);
  const counted = targets.filter((t) => t !== ignore).length;
  const value = reduction === "sum" ? total : counted === 0 ? 0 : total / counted;
  return { shape: [], values: Float64Array.of(value) };
}

/** Random class ids for `rows` rows of `cols` classes, with every third row set to `ignore`. */
function randomTargets(rows: number, cols: number, ignore: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: rows }, (_, r) => (r % 3 === 1 ? ignore : rng.int(cols)));
}

gpuTest(
  "crossEntropy matches PyTorch semantics for every reduction, odd C, ignored rows",
  async () => {
    // C = 130 is longer than the row workgroup (16 invocations on lavapipe, 128 on GPUs).
    const layouts: [number[], number][] = [[[5], 7], [[2, 3], 33], [[4], 130]];
    for (const [lead, cols] of layouts) {
      for (const reduction of ["mean", "sum", "none"] as const) {
        for (const labelSmoothing of [0, 0.1]) {
          const ignoreIndex = reduction === "sum" ? 3 : -100; // a class id can be the ignored one
          const targets = randomTargets(numel(lead), cols, ignoreIndex, cols + lead.length);
          const o = { ignoreIndex, labelSmoothing, reduction };
          await checkOp({
            inputs: [{ shape: [...lead, cols], range: [-3, 3] }],
            gpu: ([x]) => ops.crossEntropy(x, tensor(targets, lead, "i32"), o),
            cpu: ([x]) => cpuCrossEntropy(x, targets, o),
          });
        }
      }
    }
  },
);

gpuTest("crossEntropy with all but one or every target ignored (mean 0, not NaN)", async () => {
  for (const reduction of ["mean", "sum"] as const) {
    for (const targets of [[-100, 4, -100], [-100, -100, -100]]) {
      await checkOp({
        inputs: [{ shape: [3, 9] }],
        gpu: ([x]) => ops.crossEntropy(x, tensor(targets, [3], "i32"), { reduction }),
        cpu: ([x]) => cpuCrossEntropy(x, targets, { reduction }),
      });
    }
  }
});

gpuTest("crossEntropy mean with large logits stays finite and exact", async () => {
  // Logits of ±80 overflow exp() in f32 unless the max is subtracted first.
  const values = [80, -80, 0, 79, 1, 80];
  const loss = tidy(() => ops.crossEntropy(tensor(values, [2, 3]), tensor([0, 2], [2], "i32")));
  const lse = (a: number[]) => {
    const m = Math.max(...a);
    return m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0));
  };
  const expected = ((lse([80, -80, 0]) - 80) + (lse([79, 1, 80]) - 80)) / 2;
  const got = await loss.item();
  assert(Math.abs(got - expected) < 1e-5, `loss ${got}, expected ${expected}`);
  loss.dispose();
});

gpuTest("crossEntropy rejects f32 targets and mismatched shapes", () => {
  tidy(() => {
    const logits = tensor(new Float32Array(6), [2, 3]);
    const messages: string[] = [];
    for (const targets of [tensor([0, 1], [2]), tensor([0, 1, 2], [3], "i32")]) {
      try {
        ops.crossEntropy(logits, targets);
      } catch (e) {
        messages.push((e as Error).message);
      }
    }
    assertEquals(messages.length, 2, messages.join("; "));
    assert(messages[0].includes("i32"), messages[0]);
  });
});

gpuTest("mse matches the reference and finite differences, with broadcasting", async () => {
  for (const [sa, sb] of [[[3, 7], [3, 7]], [[2, 5], [5]]]) {
    await checkOp({
      inputs: [{ shape: sa }, { shape: sb }],
      gpu: ([a, b]) => ops.mse(a, b),
      cpu: ([a, b]) => {
        const d = cpuBinary(a, b, (x, y) => (x - y) ** 2).values;
        return { shape: [], values: Float64Array.of(d.reduce((s, v) => s + v, 0) / d.length) };
      },
    });
  }
});
