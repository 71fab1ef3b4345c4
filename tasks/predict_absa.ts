/**
 * `deno task predict:absa --checkpoint DIR "sentence" --aspect "term" [--aspect …]`: the polarity
 * of each aspect with its probabilities, for a person at a terminal.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { polarityProbabilities } from "./absa/evaluate.ts";
import {
  type AbsaExample,
  absaSpecialIds,
  aspectSlot,
  POLARITY_LABELS,
  tokenizeWithSpans,
} from "./absa/examples.ts";
import { loadAbsaModel } from "./absa/model_dir.ts";

/** One predicted aspect. */
export interface AspectPrediction {
  aspect: string;
  polarity: string;
  probabilities: Record<string, number>;
}

/** Predicts the polarity of each `--aspect` in the sentence. */
export async function predictAbsaCli(args: string[]): Promise<AspectPrediction[]> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { checkpoint: { type: "string" }, aspect: { type: "string", multiple: true } },
  });
  if (!values.checkpoint) throw new Error("--checkpoint DIR is required");
  if (positionals.length !== 1) {
    throw new Error('give exactly one sentence, e.g. "The pasta was great"');
  }
  const aspects = values.aspect ?? [];
  if (aspects.length === 0) throw new Error('give at least one --aspect "term"');
  await device.init();
  const { model, run, tokenizer } = await loadAbsaModel(values.checkpoint);
  const special = absaSpecialIds(tokenizer, run.model.memoryTokens);
  const ids = (s: string) => tokenizer.encode(s, false);
  const text = positionals[0];
  const spans = aspects.flatMap((a, i) => {
    const from = text.toLowerCase().indexOf(a.toLowerCase());
    return from >= 0 ? [{ from, to: from + a.length, slot: aspectSlot(i) }] : [];
  });
  const { tokens, aspectSlots } = tokenizeWithSpans(text, run.task === "atsa" ? spans : [], ids);
  const example: AbsaExample = {
    id: "cli",
    text,
    tokens: tokens.slice(0, run.maxTokens),
    aspectSlots: aspectSlots.slice(0, run.maxTokens),
    aspects: aspects.map((a, i) => ({
      aspect: a,
      polarity: "?",
      label: 0,
      slot: aspectSlot(i),
      prompt: [special.cls, ...ids(a).slice(0, 8), special.mask],
    })),
    extraction: [],
  };
  model.eval();
  const probs = polarityProbabilities(model, [example], special);
  const p = await probs.data();
  probs.dispose();
  model.dispose();
  const k = POLARITY_LABELS.length;
  return aspects.map((aspect, i) => {
    const row = Array.from(p.slice(i * k, (i + 1) * k));
    const best = row.indexOf(Math.max(...row));
    return {
      aspect,
      polarity: POLARITY_LABELS[best],
      probabilities: Object.fromEntries(POLARITY_LABELS.map((l, c) => [l, row[c]])),
    };
  });
}

if (import.meta.main) {
  try {
    for (const r of await predictAbsaCli(Deno.args)) {
      const probs = Object.entries(r.probabilities).map(([l, v]) => `${l} ${v.toFixed(3)}`).join(
        ", ",
      );
      console.log(`${r.aspect}: ${r.polarity}  (${probs})`);
    }
  } catch (e) {
    console.error(`predict:absa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
