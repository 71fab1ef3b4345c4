/**
 * Learning-rate schedules as pure functions of the step (the number of `step()` calls before this
 * one, from 0) to a multiplier of each group's base learning rate.
 *
 * Warmup rises linearly as (step + 1) / warmupSteps, so the first step already moves the weights
 * and the full rate is reached on step `warmupSteps − 1`. The decay phase then runs from
 * `warmupSteps` to `totalSteps`, ending at `minRatio` and staying there.
 *
 * @module
 */

/** step → learning-rate multiplier. */
export type Schedule = (step: number) => number;

/** Options of the warmup-then-decay schedules. */
export interface WarmupDecayOptions {
  /** Steps of linear warmup (0 for none). */
  warmupSteps: number;
  /** Step at which the decay reaches `minRatio`. */
  totalSteps: number;
  /** Final multiplier (default 0). */
  minRatio?: number;
}

function check(o: WarmupDecayOptions): number {
  const minRatio = o.minRatio ?? 0;
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0) {
    throw new Error(`schedule: warmupSteps must be an integer ≥ 0, got ${o.warmupSteps}`);
  }
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < o.warmupSteps) {
    throw new Error(
      `schedule: totalSteps (${o.totalSteps}) must be an integer ≥ warmupSteps (${o.warmupSteps})`,
    );
  }
  if (!(minRatio >= 0 && minRatio <= 1)) {
    throw new Error(`schedule: minRatio must lie in [0, 1], got ${minRatio}`);
  }
  return minRatio;
}

function warmupFactor(step: number, warmupSteps: number): number {
  return Math.min(1, (step + 1) / warmupSteps);
}

function decayProgress(step: number, o: WarmupDecayOptions): number {
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  return Math.min(1, Math.max(0, (step - o.warmupSteps) / span));
}

/** Linear warmup, then cosine decay from 1 to `minRatio` at `totalSteps`. */
export function warmupCosine(options: WarmupDecayOptions): Schedule {
  const minRatio = check(options);
  return (step) => {
    if (step < options.warmupSteps) return warmupFactor(step, options.warmupSteps);
    const t = decayProgress(step, options);
    return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}

/** Linear warmup, then linear decay from 1 to `minRatio` at `totalSteps`. */
export function warmupLinear(options: WarmupDecayOptions): Schedule {
  const minRatio = check(options);
  return (step) => {
    if (step < options.warmupSteps) return warmupFactor(step, options.warmupSteps);
    return minRatio + (1 - minRatio) * (1 - decayProgress(step, options));
  };
}

/** Linear warmup, then a constant 1. */
export function warmupConstant(options: { warmupSteps: number }): Schedule {
  check({ warmupSteps: options.warmupSteps, totalSteps: options.warmupSteps });
  return (step) => (step < options.warmupSteps ? warmupFactor(step, options.warmupSteps) : 1);
}
