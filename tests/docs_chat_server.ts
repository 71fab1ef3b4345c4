/** A local OpenAI-compatible chat-completions server for the docs:synthesize tests. */

/**
 * Serves `POST /v1/chat/completions` on 127.0.0.1 with the key "secret" and the models "tiny"
 * and "eye": 401 for another key, 404 for another path or model, 429 (Retry-After: 0) the first
 * time a document holds "RATELIMIT", a reply that is not JSON for "GARBAGE", a description for an
 * image request, and otherwise a valid synthesis derived from the document.
 */
export function chatServer(delayMs = 0): {
  url: string;
  prompts: string[];
  imageRequests: string[];
  close: () => Promise<void>;
} {
  const prompts: string[] = [];
  const imageRequests: string[] = [];
  const limited = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const error = (status: number, message: string, headers: Record<string, string> = {}) =>
      Response.json({ error: { message } }, { status, headers });
    if (new URL(req.url).pathname !== "/v1/chat/completions") return error(404, "no such route");
    if (req.headers.get("authorization") !== "Bearer secret") {
      return error(401, "Incorrect API key provided");
    }
    const body = await req.json();
    if (body.model !== "tiny" && body.model !== "eye") return error(404, "model not found");
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const content = body.messages.at(-1).content;
    const reply = (text: string) => Response.json({ choices: [{ message: { content: text } }] });
    if (Array.isArray(content)) {
      imageRequests.push(content[1].image_url.url.slice(0, 22));
      return reply("A wooden pier in fog at dawn.");
    }
    prompts.push(content);
    const doc = /"""\n([\s\S]*?)\n"""/.exec(content)![1];
    if (doc.includes("RATELIMIT") && !limited.has(doc)) {
      limited.add(doc);
      return error(429, "slow down", { "retry-after": "0" });
    }
    if (doc.includes("GARBAGE")) return reply("Sure! Here are some questions about the text.");
    const first = doc.split(". ")[0];
    return reply(JSON.stringify({
      summary: first,
      qa: [
        { question: `What comes first in "${first.slice(0, 20)}"?`, answer: first, type: "simple" },
        { question: "How long is the document?", answer: `${doc.length} chars`, type: "complex" },
        { question: "Which words end it?", answer: doc.slice(-10), type: "simple" },
      ],
      paraphrases: [doc.split(". ").reverse().join(". ")],
    }));
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1`,
    prompts,
    imageRequests,
    close: () => server.shutdown(),
  };
}
