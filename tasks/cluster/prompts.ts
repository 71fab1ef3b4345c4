/**
 * The prompts `deno task cluster` sends to an OpenAI-compatible endpoint, in one file to edit:
 * Clio-style facet extraction per text, and a name for a cluster from a sample of its members.
 * Both ask for a JSON object.
 *
 * @module
 */

/** The facets that can be extracted, with the question the model answers for each. */
export const FACET_QUESTIONS: Record<string, string> = {
  request: "What is the writer asking for or trying to get, in one short sentence?",
  task:
    "What kind of task is this (e.g. question answering, review, explanation, coding), in a few words?",
  topic: "What is the text about, in a few words (no names of people unless they are the topic)?",
  language: "Which natural language is the text written in (English name of the language)?",
};

/** The messages asking for `facets` of `text`. */
export function facetPrompt(facets: readonly string[], text: string): string {
  const questions = facets.map((f) => `- "${f}": ${FACET_QUESTIONS[f]}`).join("\n");
  return `Read the text between the triple quotes and answer about it.\n` +
    `Reply with one JSON object with exactly these string keys:\n${questions}\n` +
    `Keep each answer short and general: it will be used to group similar texts.\n` +
    `"""\n${text}\n"""`;
}

/** The message asking for a name of the cluster whose sampled members are `samples`. */
export function labelPrompt(samples: readonly string[]): string {
  return `These texts were grouped together by a clustering algorithm:\n` +
    samples.map((s, i) => `${i + 1}. """${s}"""`).join("\n") +
    `\nReply with one JSON object {"name": …, "description": …}: "name" is a short title ` +
    `(at most 6 words) for what the texts have in common, "description" one sentence.`;
}
