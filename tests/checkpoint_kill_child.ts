/**
 * Child process of the checkpoint kill test (tests/checkpoint_test.ts): saves checkpoints of
 * step 1, 2, 3, … into `Deno.args[0]` until it is killed, printing "saved" after the first one.
 * Each step's weights and `step.txt` hold the step number, so a checkpoint mixed from two saves
 * cannot pass for a whole one.
 */
import { device, io, tensor } from "../mod.ts";

await device.init();
const dir = Deno.args[0];
for (let step = 1;; step++) {
  const w = tensor(new Float32Array(64 * 1024).fill(step), [256, 256]);
  await io.saveCheckpoint(dir, {
    model: { w },
    step,
    extra: { step },
    files: { "step.txt": `${step}\n` },
  });
  w.dispose();
  if (step === 1) console.log("saved");
}
