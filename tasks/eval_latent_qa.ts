/**
 * `deno task eval:latent-qa --checkpoint DIR --file F.json [--json] [--limit N]
 * [--predictions OUT.jsonl]`: EM and F1
 * (SQuAD normalisation) of a train:latent-qa model on any HotpotQA-format file (2Wiki and
 * MuSiQue too); for latent models also the mean attention mass on supporting tokens, beside the
 * supporting tokens' share of the context, and the gate value. `--json` prints one object;
 * `--predictions` writes one `{id, question, answer, prediction}` line per question.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { writeTextFileAtomic } from "../core/io/atomic.ts";
import {
  type CheckpointReport,
  countFlag,
  evaluateCheckpoint,
} from "./latent_qa/checkpoint_eval.ts";

/** Evaluates `--checkpoint` on `--file`. */
export async function evalLatentQa(
  args: string[],
): Promise<{ report: CheckpointReport; json: boolean }> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      file: { type: "string" },
      json: { type: "boolean", default: false },
      limit: { type: "string", default: "0" },
      "batch-size": { type: "string", default: "8" },
      predictions: { type: "string" },
    },
  });
  if (!values.checkpoint) {
    throw new Error("--checkpoint DIR is required (a train:latent-qa best/ directory)");
  }
  if (!values.file) throw new Error("--file F.json is required (HotpotQA format)");
  await device.init();
  const report = await evaluateCheckpoint(values.checkpoint, values.file, {
    limit: countFlag("limit", values.limit!),
    batchSize: Math.max(1, countFlag("batch-size", values["batch-size"]!)),
  });
  if (values.predictions) {
    const lines = report.rows.map((r) => JSON.stringify(r) + "\n").join("");
    await writeTextFileAtomic(values.predictions, lines);
  }
  return { report, json: values.json! };
}

/** The human-readable report. */
export function formatQaReport(r: CheckpointReport): string {
  const lines = [
    `${r.kind} model on ${r.n} questions: EM ${(100 * r.em).toFixed(2)}  F1 ${
      (100 * r.f1).toFixed(2)
    }`,
  ];
  if (r.kind === "latent") {
    lines.push(
      `support attention mass ${r.support_mass.toFixed(4)} (supporting share of the context ` +
        `${r.support_share.toFixed(4)}), gate tanh(g) ${r.gate.toFixed(4)}`,
    );
  }
  lines.push(
    `context tokens read ${r.context_tokens.toFixed(1)}, decoder input ${
      r.decoder_input.toFixed(1)
    }, ` +
      `${r.ms_per_example.toFixed(1)} ms per question`,
    `commonest answer "${r.commonest_answer}" (${
      (100 * r.commonest_share).toFixed(1)
    } % of the questions)`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    const { report, json } = await evalLatentQa(Deno.args);
    if (json) {
      const { predictions: _, rows: __, ...rest } = report;
      console.log(JSON.stringify(rest));
    } else console.log(formatQaReport(report));
  } catch (e) {
    console.error(`eval:latent-qa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
