/**
 * Reading a `tokenizer.json` without the tokenizer library: its vocabulary by id (what GloVe
 * initialisation and the GloVe cache look words up by).
 *
 * @module
 */

/**
 * The tokens of a tokenizer.json by id: the model's vocabulary (a token → id map, or Unigram's
 * `[piece, score]` list) and the added tokens. Unused ids are empty strings.
 */
export function vocabularyOfTokenizerJson(json: unknown, file = "tokenizer.json"): string[] {
  const root = json as { model?: { vocab?: unknown }; added_tokens?: unknown };
  const modelVocab = root?.model?.vocab;
  const tokens: string[] = [];
  const put = (token: unknown, id: unknown) => {
    if (typeof token !== "string" || !Number.isSafeInteger(id) || (id as number) < 0) {
      throw new Error(
        `${file}: vocabulary entry ${JSON.stringify([token, id])} is not [token, id]`,
      );
    }
    tokens[id as number] = token;
  };
  if (Array.isArray(modelVocab)) modelVocab.forEach((entry, id) => put(entry?.[0], id));
  else if (modelVocab !== null && typeof modelVocab === "object") {
    for (const [token, id] of Object.entries(modelVocab)) put(token, id);
  } else throw new Error(`${file}: expected a tokenizer.json with a model.vocab`);
  if (Array.isArray(root.added_tokens)) {
    for (const added of root.added_tokens) put(added?.content, added?.id);
  }
  return Array.from(tokens, (t) => t ?? "");
}
