/**
 * `deno task compare:latent-qa --latent DIR --baseline DIR --file F.json [--ablation DIR]
 * [--limit N]`: the latent model and its baseline (and optionally an ablation, e.g. trained with
 * `--aux-weight 0`) on one file, side by side: EM, F1, context tokens read, decoder input
 * length, inference ms per question, support mass and gate. `--json` prints the rows.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import {
  type CheckpointReport,
  countFlag,
  evaluateCheckpoint,
} from "./latent_qa/checkpoint_eval.ts";

/** One row of the comparison. */
export interface CompareRow {
  name: string;
  dir: string;
  report: CheckpointReport;
}

/** Runs the comparison; rows in latent, baseline, ablation order. */
export async function compareLatentQa(
  args: string[],
): Promise<{ rows: CompareRow[]; json: boolean }> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      latent: { type: "string" },
      baseline: { type: "string" },
      ablation: { type: "string" },
      file: { type: "string" },
      json: { type: "boolean", default: false },
      limit: { type: "string", default: "0" },
      "batch-size": { type: "string", default: "8" },
    },
  });
  if (!values.latent || !values.baseline || !values.file) {
    throw new Error("--latent DIR, --baseline DIR and --file F.json are required");
  }
  await device.init();
  const options = {
    limit: countFlag("limit", values.limit!),
    batchSize: Math.max(1, countFlag("batch-size", values["batch-size"]!)),
  };
  const named: [string, string | undefined][] = [
    ["latent", values.latent],
    ["baseline", values.baseline],
    ["ablation", values.ablation],
  ];
  const rows: CompareRow[] = [];
  for (const [name, dir] of named) {
    if (!dir) continue;
    rows.push({ name, dir, report: await evaluateCheckpoint(dir, values.file, options) });
  }
  return { rows, json: values.json! };
}

/** The side-by-side table (Markdown). */
export function formatComparison(rows: readonly CompareRow[]): string {
  const header =
    "| model | checkpoint | n | EM | F1 | context tokens read | decoder input | ms / question | support mass (share) | gate | commonest answer (share) |";
  const rule = "|---|---|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map(({ name, dir, report: r }) => {
    const latent = r.kind === "latent";
    return `| ${name} | ${dir} | ${r.n} | ${(100 * r.em).toFixed(2)} | ${
      (100 * r.f1).toFixed(2)
    } | ${r.context_tokens.toFixed(1)} | ${r.decoder_input.toFixed(1)} | ${
      r.ms_per_example.toFixed(1)
    } | ${latent ? `${r.support_mass.toFixed(4)} (${r.support_share.toFixed(4)})` : "—"} | ${
      latent ? r.gate.toFixed(4) : "—"
    } | "${r.commonest_answer}" (${(100 * r.commonest_share).toFixed(1)} %) |`;
  });
  return [header, rule, ...lines].join("\n");
}

if (import.meta.main) {
  try {
    const { rows, json } = await compareLatentQa(Deno.args);
    if (json) {
      console.log(
        JSON.stringify(
          rows.map(({ name, dir, report: { predictions: _, rows: __, ...r } }) => ({
            name,
            dir,
            ...r,
          })),
        ),
      );
    } else console.log(formatComparison(rows));
  } catch (e) {
    console.error(`compare:latent-qa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
