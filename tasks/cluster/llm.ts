/**
 * The endpoint side of `deno task cluster` (Clio's use of an LLM): facets extracted per text and
 * a name per cluster from an evenly spaced sample of its members, through the document pipeline's
 * chat client (retries, timeouts and its error messages). Prompts are in `prompts.ts`.
 *
 * @module
 */
import type { ChatClient } from "../docs/chat_client.ts";
import { Progress } from "../../core/io/progress.ts";
import type { ClusterText } from "./input.ts";
import { FACET_QUESTIONS, facetPrompt, labelPrompt } from "./prompts.ts";
import { shorten } from "./labels.ts";

/** An endpoint and the model to ask. */
export interface LlmEndpoint {
  client: ChatClient;
  model: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
}

/** Runs `jobs` with at most `limit` in flight; results in input order. */
async function pool<T>(count: number, limit: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

/** The JSON object of a reply; the error names `what` and shows the reply's start. */
function replyObject(reply: string, what: string): Record<string, unknown> {
  const body = /\{[\s\S]*\}/.exec(reply)?.[0];
  try {
    const value = JSON.parse(body ?? "");
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new Error(
    `${what}: the endpoint's reply is not a JSON object: ${JSON.stringify(reply.slice(0, 80))}`,
  );
}

/** Asks for `facets` of every text and stores them in `text.facets`. */
export async function extractFacets(
  llm: LlmEndpoint,
  texts: ClusterText[],
  facets: readonly string[],
): Promise<void> {
  for (const f of facets) {
    if (!(f in FACET_QUESTIONS)) {
      throw new Error(
        `--extract-facets ${f}: expected some of ${Object.keys(FACET_QUESTIONS).join(", ")}`,
      );
    }
  }
  const progress = new Progress(texts.length, { label: "facets" });
  let done = 0;
  await pool(texts.length, llm.concurrency ?? 4, async (i) => {
    const reply = await llm.client.complete(
      [{ role: "user", content: facetPrompt(facets, texts[i].text) }],
      { model: llm.model, json: true, temperature: 0 },
    );
    const object = replyObject(reply, `text ${i + 1}`);
    for (const f of facets) {
      if (typeof object[f] !== "string") {
        throw new Error(`text ${i + 1}: the endpoint's reply has no string "${f}"`);
      }
      texts[i].facets[f] = object[f] as string;
    }
    if (++done < texts.length) progress.update(done);
  });
  progress.finish();
}

/** A name per group from up to `sample` evenly spaced members. */
export function llmNames(
  llm: LlmEndpoint,
  groups: readonly (readonly number[])[],
  texts: readonly string[],
  sample = 10,
): Promise<string[]> {
  return pool(groups.length, llm.concurrency ?? 4, async (g) => {
    const members = groups[g];
    const step = Math.max(1, members.length / sample);
    const picked = Array.from(
      { length: Math.min(sample, members.length) },
      (_, i) => shorten(texts[members[Math.floor(i * step)]], 300),
    );
    const reply = await llm.client.complete(
      [{ role: "user", content: labelPrompt(picked) }],
      { model: llm.model, json: true, temperature: 0 },
    );
    const name = replyObject(reply, `group ${g + 1}`).name;
    if (typeof name !== "string") {
      throw new Error(`group ${g + 1}: the endpoint's reply has no string "name"`);
    }
    return name;
  });
}
