/**
 * `deno task eval:absa --checkpoint DIR --file F.xml [--json] [--lenient]`: accuracy, macro-F1, per-class
 * precision/recall/F1 and the confusion matrix of a trained model on any MAMS- or SemEval-format
 * file. Labels outside the 3-way scheme (SemEval's `conflict`) are counted and excluded from the
 * score. `--lenient` skips elements the XML format does not define (each one reported on stderr)
 * instead of refusing the file.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as device from "../core/device.ts";
import { formatReport } from "../core/metrics/classification.ts";
import { readAbsaXml } from "../datasets/absa_xml.ts";
import { absaSpecialIds, buildAbsaExamples } from "./absa/examples.ts";
import { type AbsaEvaluation, evaluateAbsa } from "./absa/evaluate.ts";
import { loadAbsaModel } from "./absa/model_dir.ts";

/** Evaluates `--checkpoint` on `--file`; returns the report and the reader's warnings. */
export async function evalAbsa(
  args: string[],
): Promise<{ report: AbsaEvaluation; json: boolean; warnings: string[] }> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      checkpoint: { type: "string" },
      file: { type: "string" },
      json: { type: "boolean", default: false },
      lenient: { type: "boolean", default: false },
      "batch-size": { type: "string", default: "64" },
    },
  });
  if (!values.checkpoint) {
    throw new Error("--checkpoint DIR is required (a train:absa best/ directory)");
  }
  if (!values.file) throw new Error("--file F.xml is required (MAMS or SemEval-2014 format)");
  await device.init();
  const { model, run, tokenizer } = await loadAbsaModel(values.checkpoint);
  const data = await readAbsaXml(values.file, { lenient: values.lenient });
  const special = absaSpecialIds(tokenizer, run.model.memoryTokens);
  const examples = buildAbsaExamples(data.sentences, tokenizer, {
    task: run.task,
    maxTokens: run.maxTokens,
    special,
  });
  const report = await evaluateAbsa(model, examples, special, Number(values["batch-size"]));
  model.dispose();
  return { report, json: values.json!, warnings: data.warnings };
}

if (import.meta.main) {
  try {
    const { report, json, warnings } = await evalAbsa(Deno.args);
    for (const w of warnings) console.error(`warning: ${w}`);
    if (warnings.length) console.error(`${warnings.length} element(s) skipped (--lenient)`);
    if (json) console.log(JSON.stringify(report));
    else {
      console.log(formatReport(report));
      const excluded = Object.entries(report.excluded);
      if (excluded.length) {
        console.log(
          `excluded from the 3-way score: ${excluded.map(([k, v]) => `${k} ${v}`).join(", ")}`,
        );
      }
    }
  } catch (e) {
    console.error(`eval:absa: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
