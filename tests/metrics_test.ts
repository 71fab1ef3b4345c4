import { assertEquals, assertThrows } from "./assert.ts";
import { assertClose } from "./helpers.ts";
import { classificationReport, confusionMatrix } from "../core/metrics/classification.ts";

Deno.test("confusion matrix counts gold × predicted", () => {
  const m = confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
  assertEquals(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
  assertThrows(() => confusionMatrix([0, 3], [0, 0], 3), "out of range");
});

Deno.test("accuracy, per-class scores and macro-F1 match a hand-computed matrix", () => {
  // gold pos: 5 (4 right, 1 → neg); gold neg: 3 (2 right, 1 → neu); gold neu: 2 (both → pos).
  const r = classificationReport([[4, 1, 0], [0, 2, 1], [2, 0, 0]], [
    "positive",
    "negative",
    "neutral",
  ]);
  assertClose([r.accuracy], [6 / 10], 0, 1e-12, "accuracy");
  const p = [4 / 6, 2 / 3, 0], rec = [4 / 5, 2 / 3, 0];
  const f1 = p.map((x, i) => (x + rec[i] ? (2 * x * rec[i]) / (x + rec[i]) : 0));
  assertClose(r.classes.map((c) => c.precision), p, 0, 1e-12, "precision");
  assertClose(r.classes.map((c) => c.recall), rec, 0, 1e-12, "recall");
  assertClose(r.classes.map((c) => c.f1), f1, 0, 1e-12, "f1");
  assertClose([r.macro_f1], [(f1[0] + f1[1] + f1[2]) / 3], 0, 1e-12, "macro-F1");
  assertEquals(r.classes.map((c) => c.support), [5, 3, 2]);
});

Deno.test("a class never predicted and never present scores 0, not NaN", () => {
  const r = classificationReport([[3, 0], [0, 0]], ["a", "b"]);
  assertEquals([r.accuracy, r.classes[1].f1, r.macro_f1], [1, 0, 0.5]);
});
