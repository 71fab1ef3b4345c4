import { assert, assertEquals, assertThrows } from "./assert.ts";
import { assertClose, gpuTest } from "./helpers.ts";
import { noGrad, ops, tensor, tidy } from "../mod.ts";
import { DecoderOnly, type StackConfig } from "../core/nn/stacks.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { Rng } from "../core/random.ts";
import {
  repeatHalves,
  repeatTargetHalves,
  type TokenWindows,
  windowBatch,
} from "../tasks/clara/lm_data.ts";
import { copyProbe } from "../tasks/clara/lm_training.ts";
import { parseTrainClaraArgs } from "../tasks/train_clara.ts";

Deno.test("repeatHalves repeats the first half of every n-th window; repeatTargetHalves splits the targets", () => {
  const windows: TokenWindows = {
    length: 5,
    count: 3,
    ids: Int32Array.from([1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26]),
  };
  assertEquals(Array.from(repeatHalves(windows).ids), [
    ...[1, 2, 3, 1, 2, 3],
    ...[11, 12, 13, 11, 12, 13],
    ...[21, 22, 23, 21, 22, 23],
  ]);
  assertEquals(Array.from(repeatHalves(windows, 2).ids), [
    ...[1, 2, 3, 4, 5, 6],
    ...[11, 12, 13, 11, 12, 13],
    ...[21, 22, 23, 24, 25, 26],
  ]);
  assertEquals(Array.from(windows.ids.slice(0, 6)), [1, 2, 3, 4, 5, 6], "input changed");
  // Window 1 2 3 1 2 3: targets 2 3 | 1 | 2 3; the repeat's first token follows no earlier copy.
  assertEquals(repeatTargetHalves(5), { fresh: [0, 1], copy: [3, 4] });
  // Odd window 1 2 3 1 2 (length 4): targets 2 3 | 1 | 2.
  assertEquals(repeatTargetHalves(4), { fresh: [0, 1], copy: [3] });
  assertThrows(() => repeatHalves(windows, 0), "every must be an integer ≥ 1, got 0");
});

Deno.test("train:clara --repeat-every: every 2nd window by default, 0 turns it off, a negative count names the flag", () => {
  assertEquals(parseTrainClaraArgs(["--stage", "lm"]).repeatEvery, 2);
  assertEquals(parseTrainClaraArgs(["--stage", "lm", "--repeat-every", "0"]).repeatEvery, 0);
  assertEquals(parseTrainClaraArgs(["--stage", "lm", "--repeat-every", "4"]).repeatEvery, 4);
  assertThrows(
    () => parseTrainClaraArgs(["--stage", "lm", "--repeat-every=-1"]),
    "--repeat-every: expected 0 (off) or a positive integer, got -1",
  );
});

const TINY: StackConfig = {
  vocabSize: 16,
  dim: 32,
  heads: 2,
  layers: 2,
  hidden: 64,
  dropout: 0,
  maxLength: 16,
  positions: "rotary",
  seed: 3,
};

function randomWindows(count: number, length: number, seed: number): TokenWindows {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: count * (length + 1) }, () => rng.int(TINY.vocabSize));
  return { length, count, ids };
}

gpuTest("copyProbe is the host mean NLL of each half of the repeated windows", async () => {
  const model = new DecoderOnly(TINY);
  const windows = randomWindows(5, 11, 4);
  const probe = await copyProbe(model, windows, 2);
  const repeated = repeatHalves(windows);
  const { inputs, targets } = windowBatch(repeated, [0, 1, 2, 3, 4]);
  const logProbs = await noGrad(() =>
    tidy(() => ops.logSoftmax(model.forward(tensor(inputs, [5, 11], "i32"))))
  ).data();
  const halves = repeatTargetHalves(11);
  const mean = (positions: number[]) => {
    let sum = 0;
    for (let r = 0; r < 5; r++) {
      for (const t of positions) sum -= logProbs[(r * 11 + t) * 16 + targets[r * 11 + t]];
    }
    return sum / (5 * positions.length);
  };
  // Sums of ≤ 30 f32 log-probabilities of size ≈ 3: rounding far below 1e-5 relative.
  assertClose(
    [probe.fresh_nll, probe.copy_nll],
    [mean(halves.fresh), mean(halves.copy)],
    0,
    1e-5,
    "copy probe",
  );
  model.dispose();
});

gpuTest(
  "a tiny LM trained on repeated random windows learns to copy: the probe shows it",
  async () => {
    const model = new DecoderOnly(TINY);
    const heldOut = randomWindows(32, 15, 5);
    const before = await copyProbe(model, heldOut, 32);
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 150; step++) {
      const batch = repeatHalves(randomWindows(32, 15, 100 + step));
      const rows = Array.from({ length: 32 }, (_, i) => i);
      const { inputs, targets } = windowBatch(batch, rows);
      tidy(() => {
        const logits = model.forward(tensor(inputs, [32, 15], "i32"));
        ops.crossEntropy(logits, tensor(targets, [32, 15], "i32")).backward();
        opt.step();
        opt.zeroGrad();
      });
    }
    const after = await copyProbe(model, heldOut, 32);
    // Random tokens: the first half stays at ≈ ln 16 = 2.77 nats, copying takes the repeat far below.
    assert(
      Math.abs(before.copy_nll - before.fresh_nll) < 0.3,
      `untrained ${JSON.stringify(before)}`,
    );
    assert(after.fresh_nll > 2.5, `first half ${after.fresh_nll}: random tokens are not learnable`);
    assert(after.copy_nll < 0.5 * after.fresh_nll, `trained ${JSON.stringify(after)}`);
    model.dispose();
    opt.dispose();
  },
);
