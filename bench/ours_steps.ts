/**
 * Our whole training steps, built from `nn` modules — forward, backward, AdamW, and the loss read
 * back as a training loop would (that readback is the step's one sync) — for the MLP and the
 * transformer encoder. The memory group runs the same steps on a drained pool and reports the
 * pool's peak bytes.
 *
 * @module
 */
import { full, keep, nn, ops, optim, poolStats, randn, type Tensor, tidy } from "../mod.ts";
import { drainPool } from "../core/buffer_pool.ts";
import type { BenchCase, CaseInfo, Runner } from "./harness.ts";
import { caseInfos } from "./case_info.ts";
import type { BenchShapes, MlpShape, TransformerShape } from "./shapes.ts";
import { countingRunner } from "./ours_runner.ts";
import { absaStepRunner } from "./ours_absa_step.ts";

/** Steps `loss()` with AdamW (weight decay 0, i.e. Adam) and reads the loss back each run. */
function stepRunner(model: nn.Module, data: Tensor[], loss: () => Tensor): Runner {
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
  return countingRunner({
    async run() {
      const value = tidy(() => {
        const l = loss();
        l.backward();
        opt.step();
        opt.zeroGrad();
        return l.detach();
      });
      await value.item();
      value.dispose();
    },
    dispose() {
      opt.dispose();
      for (const [, p] of model.namedParameters()) p.dispose();
      for (const t of data) t.dispose();
    },
  });
}

/** Linear → ReLU → Linear. */
class TwoLayerMlp extends nn.Module {
  readonly first: nn.Linear;
  readonly second: nn.Linear;
  constructor(m: MlpShape) {
    super();
    this.first = this.child("first", new nn.Linear(m.inputs, m.hidden, { seed: 3 }));
    this.second = this.child("second", new nn.Linear(m.hidden, m.outputs, { seed: 4 }));
  }
  forward(x: Tensor): Tensor {
    return this.second.forward(ops.relu(this.first.forward(x)));
  }
}

function mlpRunner(m: MlpShape): Runner {
  const x = keep(randn([m.batch, m.inputs], { seed: 1 }));
  const target = keep(randn([m.batch, m.outputs], { seed: 2 }));
  const model = new TwoLayerMlp(m);
  return stepRunner(model, [x, target], () => ops.mse(model.forward(x), target));
}

/** Pre-norm encoder layers (GELU MLP, no dropout) on random embeddings. */
class EncoderLayers extends nn.Module {
  readonly layers: nn.TransformerEncoderLayer[];
  constructor(t: TransformerShape) {
    super();
    this.layers = Array.from({ length: t.layers }, (_, i) =>
      this.child(
        `layers.${i}`,
        new nn.TransformerEncoderLayer({
          dim: t.dim,
          heads: t.heads,
          hidden: t.hidden,
          activation: "gelu",
          seed: 10 * i + 7,
        }),
      ));
  }
  forward(x: Tensor, keyPadding: Tensor): Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h, { keyPadding }), x);
  }
}

function transformerRunner(t: TransformerShape): Runner {
  const x = keep(randn([t.batch, t.seq, t.dim], { seed: 5 }));
  const target = keep(randn([t.batch, t.seq, t.dim], { seed: 6 }));
  // Every key is a real token, as in a batch without padding; the mask is still applied.
  const keyPadding = keep(full([t.batch, t.seq], 1));
  const model = new EncoderLayers(t);
  return stepRunner(
    model,
    [x, target, keyPadding],
    () => ops.mse(model.forward(x, keyPadding), target),
  );
}

function stepCase(info: CaseInfo, make: () => Runner): BenchCase {
  const group = info.group;
  return {
    info,
    prepare(): Runner {
      if (group !== "memory") return make();
      drainPool();
      // Bytes that other live tensors hold are not this step's.
      const others = poolStats().liveBytes;
      const runner = make();
      return {
        ...runner,
        extra: () => {
          const e = runner.extra!();
          return { ...e, peak_bytes: e.peak_bytes! - others };
        },
      };
    },
  };
}

/** The training-step cases of the `step` group, or of the `memory` group (drained pool first). */
export function stepCases(s: BenchShapes, group: "step" | "memory"): BenchCase[] {
  const info = caseInfos(s);
  return [
    stepCase(info.mlpStep(group), () => mlpRunner(s.mlp)),
    stepCase(info.transformerStep(group), () => transformerRunner(s.transformer)),
    stepCase(info.absaStep(group), () => absaStepRunner(s.absa)),
    // The same step with the engine's fast paths off (kernels/fast_paths.ts), for their ratio.
    ...(group === "step"
      ? [stepCase(
        { ...info.absaStep(group), name: "train:absa step, fast paths off" },
        () => absaStepRunner(s.absa, 0, false),
      )]
      : []),
  ];
}
