/**
 * Readers of the CLaRa stage files that `docs:synthesize` writes (ml-clara's formats, see
 * tasks/docs/stage_records.ts): `pretrain.jsonl` for stage 1 (SCP) and `instruction.jsonl` for
 * stage 2. Each line is checked field by field; a bad line is an error naming the file, the line
 * and the field, never a silently shorter data set.
 *
 * @module
 */
import type { InstructionRecord, PretrainRecord } from "../docs/stage_records.ts";

export type { InstructionRecord, PretrainRecord };

/** A stage file line that does not follow its format. */
export class StageRecordError extends Error {
  /** The error for `file` at 1-based `line`. */
  constructor(readonly file: string, readonly line: number, reason: string) {
    super(`${file}: line ${line}: ${reason}`);
    this.name = "StageRecordError";
  }
}

/**
 * The JSON objects of a JSON Lines text, blank lines skipped, with their 1-based line numbers; a
 * line that is not a JSON object is a {@linkcode StageRecordError} naming `file` and the line.
 */
export function jsonObjectLines(
  file: string,
  text: string,
): { line: number; value: Record<string, unknown> }[] {
  const out: { line: number; value: Record<string, unknown> }[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new StageRecordError(file, i + 1, `not JSON (${(e as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new StageRecordError(file, i + 1, "expected a JSON object");
    }
    out.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return out;
}

function strings(
  file: string,
  line: number,
  r: Record<string, unknown>,
  key: string,
  nonEmpty: boolean,
): string[] {
  const v = r[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new StageRecordError(file, line, `field "${key}" must be an array of strings`);
  }
  if (nonEmpty && v.length === 0) {
    throw new StageRecordError(file, line, `field "${key}" is empty`);
  }
  return v as string[];
}

function string(file: string, line: number, r: Record<string, unknown>, key: string): string {
  if (typeof r[key] !== "string") {
    throw new StageRecordError(file, line, `missing string field "${key}"`);
  }
  return r[key] as string;
}

/** Parses `pretrain.jsonl` text; `file` names it in errors. */
export function parsePretrainRecords(file: string, text: string): PretrainRecord[] {
  return jsonObjectLines(file, text).map(({ line, value: r }) => {
    const type = r.data_type;
    if (type !== "qa" && type !== "paraphrase") {
      throw new StageRecordError(
        file,
        line,
        `field "data_type" is ${JSON.stringify(type)}, expected "qa" or "paraphrase"`,
      );
    }
    const question = strings(file, line, r, "question", false);
    const answers = strings(file, line, r, "answers", true);
    const docs = strings(file, line, r, "docs", true);
    if (type === "qa" && question.length !== answers.length) {
      throw new StageRecordError(
        file,
        line,
        `${question.length} questions but ${answers.length} answers`,
      );
    }
    return { data_type: type, question, answers, docs };
  });
}

/** Parses `instruction.jsonl` text; `file` names it in errors. */
export function parseInstructionRecords(file: string, text: string): InstructionRecord[] {
  return jsonObjectLines(file, text).map(({ line, value: r }) => {
    if (r.data_type !== "instruction") {
      throw new StageRecordError(
        file,
        line,
        `field "data_type" is ${JSON.stringify(r.data_type)}, expected "instruction"`,
      );
    }
    const docs = strings(file, line, r, "docs", true);
    const pos = r.pos_index ?? [];
    if (!Array.isArray(pos) || pos.some((i) => !Number.isInteger(i) || i < 0 || i >= docs.length)) {
      throw new StageRecordError(
        file,
        line,
        `field "pos_index" must list indices into "docs" (0…${docs.length - 1})`,
      );
    }
    return {
      data_type: "instruction",
      question: string(file, line, r, "question"),
      docs,
      answer: string(file, line, r, "answer"),
      pos_index: pos as number[],
    };
  });
}

/** Reads a `pretrain.jsonl` file. */
export async function readPretrainRecords(path: string): Promise<PretrainRecord[]> {
  return parsePretrainRecords(path, await Deno.readTextFile(path));
}

/** Reads an `instruction.jsonl` file. */
export async function readInstructionRecords(path: string): Promise<InstructionRecord[]> {
  return parseInstructionRecords(path, await Deno.readTextFile(path));
}
