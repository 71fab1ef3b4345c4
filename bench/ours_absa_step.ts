/**
 * The `train:absa` step at the task's default model size on synthetic sentences: both phases,
 * all four losses, clipping and AdamW, with the loss terms read back once as the task does.
 *
 * @module
 */
import { FastClaraAbsa } from "../core/models/fast_clara_absa.ts";
import { Rng } from "../core/random.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { tidy } from "../core/scope.ts";
import { optimizerStep } from "../core/train/step.ts";
import { fastPathsEnabled, setFastPaths } from "../kernels/fast_paths.ts";
import { collateAbsa } from "../tasks/absa/batch.ts";
import type { AbsaExample, AbsaSpecialIds } from "../tasks/absa/examples.ts";
import { absaLosses, curriculumWeights, DEFAULT_CURRICULUM } from "../tasks/absa/objective.ts";
import type { Runner } from "./harness.ts";
import type { AbsaStepShape } from "./shapes.ts";
import { countingRunner } from "./ours_runner.ts";

/**
 * A batch of synthetic sentences: `a.tokens` tokens each, or with `variable` a length drawn per
 * sentence from [a.tokens / 2, 2·a.tokens) (as train:absa's batches vary).
 */
function syntheticExamples(
  a: AbsaStepShape,
  special: AbsaSpecialIds,
  rng: Rng,
  variable: boolean,
): AbsaExample[] {
  const word = () => 5 + a.memory + rng.int(a.vocab - 5 - a.memory);
  const half = Math.max(4, Math.floor(a.tokens / 2));
  const length = () => (variable ? half + rng.int(2 * a.tokens - half) : a.tokens);
  return Array.from({ length: a.batch }, length).map((n, i) => ({
    id: `${i}`,
    text: "",
    tokens: Array.from({ length: n }, word),
    aspectSlots: Array.from(
      { length: n },
      (_, t) => (t % 7 === 3 ? 1 + (t % a.aspects) : 0),
    ),
    aspects: Array.from({ length: a.aspects }, (_, k) => ({
      aspect: "",
      polarity: "",
      label: k % 3,
      slot: k + 1,
      prompt: [special.cls, word(), special.mask],
    })),
    extraction: Array.from({ length: 3 * a.aspects }, word),
  }));
}

/**
 * A runner for one ABSA training step per run (the trainer's {@linkcode optimizerStep}, clipping
 * at 1 as train:absa does): on the same batch each run when `distinctBatches` is 0, else on one of
 * that many variable-length batches, picked at random each run (seeded; `Infinity`: a fresh batch
 * every run, as train:absa's reshuffled epochs keep making new ones). With `fastPaths` false the
 * step runs with the engine's fast paths off (kernels/fast_paths.ts), restored after each run.
 */
export function absaStepRunner(
  a: AbsaStepShape,
  distinctBatches = 0,
  fastPaths = true,
): Runner {
  const special: AbsaSpecialIds = {
    pad: 0,
    cls: 2,
    sep: 3,
    mask: 4,
    memory: Array.from({ length: a.memory }, (_, i) => 5 + i),
  };
  const rng = new Rng(11);
  const fixed = syntheticExamples(a, special, rng, false);
  const pool = Number.isFinite(distinctBatches)
    ? Array.from({ length: distinctBatches }, () => syntheticExamples(a, special, rng, true))
    : [];
  const nextBatch = (): AbsaExample[] => {
    if (distinctBatches === 0) return fixed;
    if (pool.length) return pool[rng.int(pool.length)];
    return syntheticExamples(a, special, rng, true);
  };
  const model = new FastClaraAbsa({
    vocabSize: a.vocab,
    dim: a.dim,
    heads: a.heads,
    layers: a.layers,
    hidden: a.hidden,
    maxLength: a.memory + 2 * a.tokens + 2,
    memoryTokens: a.memory,
    labels: 3,
    dropout: 0.2,
    seed: 1,
    markAspects: true,
    slotMemory: true,
    aspectRegions: true,
    positions: "rotary",
    frozenWordVectors: true,
    termHead: true,
  });
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-3 });
  const weights = curriculumWeights(DEFAULT_CURRICULUM, 0);
  return countingRunner({
    async run() {
      const examples = nextBatch();
      const before = fastPathsEnabled();
      setFastPaths(fastPaths);
      let values;
      try {
        values = tidy(() =>
          optimizerStep({ params, optimizer: opt, clipNorm: 1.0 }, [() => {
            const batch = collateAbsa(examples, special, {
              generativeRows: a.generativeRows,
              slotMemory: true,
              aspectRegions: true,
              termWeights: true,
            });
            const l = absaLosses(model, batch, weights, 0.1);
            return [l.total, l.rec, l.absa, l.mse, l.ext, l.span];
          }])
        );
      } finally {
        setFastPaths(before);
      }
      await values.data();
      values.dispose();
    },
    dispose() {
      opt.dispose();
      model.dispose();
    },
  });
}
