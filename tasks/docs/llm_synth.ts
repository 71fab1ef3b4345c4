/**
 * The endpoint synthesizer: asks an OpenAI-compatible chat model for a chunk's summary, QA pairs
 * (simple, complex and, when the chunk's language differs from the target, cross-lingual) and
 * paraphrases, with the prompts of prompts.ts; images are first described by the vision model.
 * A reply that is not the requested JSON is rejected with a {@linkcode MalformedReplyError}.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import type { ChatClient } from "./chat_client.ts";
import type { KnowledgeRecord } from "./knowledge.ts";
import {
  CHUNK_PROMPT,
  CROSS_LINGUAL_PROMPT,
  fillPrompt,
  IMAGE_PROMPT,
  SYSTEM_PROMPT,
} from "./prompts.ts";
import type { QaPair, Synthesis } from "./stage_records.ts";

/** Most QA pairs kept from one reply. */
const MAX_QA = 8;

/** A model reply that is not the JSON object the prompt asks for. */
export class MalformedReplyError extends Error {
  /** Builds the error with what was wrong. */
  constructor(reason: string) {
    super(`malformed model reply: ${reason}`);
    this.name = "MalformedReplyError";
  }
}

/** Options of {@linkcode synthesizeWithEndpoint}. */
export interface EndpointSynthOptions {
  client: ChatClient;
  model: string;
  /** Model for image descriptions; images are not described without one. */
  visionModel?: string;
  /** Language of cross-lingual questions ("en"); none when undefined. */
  crossLingual?: string;
  /** Ask for `response_format: json_object` (some servers reject it). */
  jsonMode: boolean;
  /** Directory the records' image paths are relative to (the ingest output). */
  assetsDir: string;
}

const MIME: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
};

/** Synthesizes one chunk through the endpoint; returns undefined for a chunk with no content. */
export async function synthesizeWithEndpoint(
  record: KnowledgeRecord,
  options: EndpointSynthOptions,
): Promise<Synthesis | undefined> {
  const imageDescriptions: { path: string; description: string }[] = [];
  if (options.visionModel) {
    for (const image of record.images) {
      if (image.path === null) continue;
      const bytes = await Deno.readFile(`${options.assetsDir}/${image.path}`);
      const ext = image.path.slice(image.path.lastIndexOf(".") + 1);
      const prompt = fillPrompt(IMAGE_PROMPT, {
        title: record.title,
        description: image.description,
      });
      const description = (await options.client.complete([{
        role: "user",
        content: [
          { type: "text", text: prompt },
          {
            type: "image_url",
            image_url: { url: `data:${MIME[ext] ?? "image/png"};base64,${encodeBase64(bytes)}` },
          },
        ],
      }], { model: options.visionModel })).trim();
      if (description !== "") imageDescriptions.push({ path: image.path, description });
    }
  }
  const text = [record.text, ...imageDescriptions.map((d) => `[Image: ${d.description}]`)]
    .filter((t) => t.trim() !== "").join("\n");
  if (text.trim() === "") return undefined;
  const cross = options.crossLingual !== undefined && record.lang !== options.crossLingual &&
    record.lang !== "other";
  const values = {
    title: record.title,
    section: record.section || "(none)",
    lang: record.lang,
    text,
    target: options.crossLingual ?? "",
  };
  const prompt = fillPrompt(CHUNK_PROMPT, {
    ...values,
    cross_lingual: cross ? fillPrompt(CROSS_LINGUAL_PROMPT, values) : "",
  });
  const reply = await options.client.complete([
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: prompt },
  ], { model: options.model, json: options.jsonMode });
  const synthesis = parseSynthesisReply(reply);
  return imageDescriptions.length > 0 ? { ...synthesis, imageDescriptions } : synthesis;
}

/** Parses and checks a reply: a summary, 1–8 QA pairs and optional paraphrases. */
export function parseSynthesisReply(reply: string): Synthesis {
  const body = reply.trim().replace(/^```(?:json)?\s*/i, "").replace(/\s*```$/, "");
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new MalformedReplyError(`not JSON: ${JSON.stringify(reply.slice(0, 120))}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MalformedReplyError("expected a JSON object");
  }
  const v = value as Record<string, unknown>;
  if (typeof v.summary !== "string" || v.summary.trim() === "") {
    throw new MalformedReplyError('no string "summary"');
  }
  if (!Array.isArray(v.qa)) throw new MalformedReplyError('no array "qa"');
  const qa: QaPair[] = [];
  v.qa.forEach((item, i) => {
    const q = item as Record<string, unknown>;
    if (typeof q?.question !== "string" || typeof q?.answer !== "string") {
      throw new MalformedReplyError(`qa[${i}] needs string "question" and "answer"`);
    }
    if (q.question.trim() === "" || q.answer.trim() === "") return;
    qa.push({
      question: oneLine(q.question),
      answer: oneLine(q.answer),
      kind: typeof q.type === "string" ? q.type : "simple",
    });
  });
  if (qa.length === 0) throw new MalformedReplyError('"qa" holds no question with an answer');
  const paraphrases = v.paraphrases === undefined ? [] : v.paraphrases;
  if (!Array.isArray(paraphrases) || paraphrases.some((p) => typeof p !== "string")) {
    throw new MalformedReplyError('"paraphrases" is not an array of strings');
  }
  return {
    summary: oneLine(v.summary),
    qa: qa.slice(0, MAX_QA),
    paraphrases: (paraphrases as string[]).map(oneLine).filter((p) => p !== ""),
  };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
