/**
 * The prompts of the endpoint synthesizer, in one place to edit. `{{name}}` placeholders are
 * filled by {@linkcode fillPrompt}; the reply must stay the JSON object described in
 * `CHUNK_PROMPT` (llm_synth.ts checks it and drops the chunk with a warning otherwise).
 *
 * @module
 */

/** The system message of every synthesis request. */
export const SYSTEM_PROMPT =
  "You write training data for a retrieval question-answering model. You answer with one JSON " +
  "object and nothing else. Every answer must be stated in the given document; never use " +
  "outside knowledge.";

/** The request for one chunk; `{{cross_lingual}}` is empty or CROSS_LINGUAL_PROMPT. */
export const CHUNK_PROMPT = `Document title: {{title}}
Section: {{section}}
Document language: {{lang}}

Document:
"""
{{text}}
"""

Return a JSON object with exactly these keys:
- "summary": a dense summary of the document in 1-3 sentences, keeping names, numbers and dates.
- "qa": 3 to 5 objects {"question": ..., "answer": ..., "type": ...}: at least one "simple"
  question answered by one sentence, at least one "complex" question whose answer needs two or
  more sentences combined. Answers are short spans or phrases from the document.{{cross_lingual}}
- "paraphrases": 1 or 2 rewordings of the whole document that keep every fact.`;

/** Added to CHUNK_PROMPT when the chunk's language differs from the cross-lingual target. */
export const CROSS_LINGUAL_PROMPT = `
  Also add 1 or 2 objects of type "cross_lingual": question and answer written in {{target}}
  although the document is in {{lang}}.`;

/** The request to a vision model for one image. */
export const IMAGE_PROMPT =
  `Describe this image for a search index in 2-4 sentences: what it shows, any
text in it, and what it tells about its document "{{title}}". Its caption or alt text: "{{description}}".
Answer with plain text.`;

/** Replaces every `{{key}}` in `template` with `values[key]` ("" when missing). */
export function fillPrompt(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? "");
}
