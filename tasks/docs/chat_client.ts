/**
 * A client for OpenAI-compatible `POST {base}/chat/completions` endpoints (OpenAI, vLLM,
 * llama.cpp, Ollama, LM Studio …) on plain `fetch`: a timeout per request, retries with
 * exponential backoff on 429, 5xx and network errors (honouring `Retry-After`), and errors that
 * say what to fix for 401/403 (the key) and 404 (the base URL or the model name).
 *
 * @module
 */

/** A chat message; `content` may mix text and images for vision models. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content:
    | string
    | ({ type: "text"; text: string } | { type: "image_url"; image_url: { url: string } })[];
}

/** Options of {@linkcode ChatClient}. */
export interface ChatClientOptions {
  /** Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  apiKey?: string;
  /** Milliseconds before a request is abandoned (default 120 000). */
  timeoutMs?: number;
  /** Retries after the first attempt on 429/5xx/network errors (default 5). */
  maxRetries?: number;
  /** Backoff before the first retry in ms, doubled on each further one (default 1000). */
  backoffMs?: number;
  /** Longest wait between retries in ms (default 60 000). */
  maxBackoffMs?: number;
  /** Waits `ms` (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

/** A request that failed; `fatal` when every further request would fail the same way. */
export class EndpointError extends Error {
  /** Builds the error; `status` is the HTTP status (0 for network errors). */
  constructor(message: string, readonly status: number, readonly fatal: boolean) {
    super(message);
    this.name = "EndpointError";
  }
}

/** One completion request's options. */
export interface CompleteOptions {
  model: string;
  /** Ask for a JSON object (`response_format: {type: "json_object"}`). */
  json?: boolean;
  temperature?: number;
}

/** Sends chat-completion requests to one endpoint. */
export class ChatClient {
  readonly #url: string;
  readonly #sleep: (ms: number) => Promise<void>;

  /** Prepares requests to `options.baseUrl`. */
  constructor(readonly options: ChatClientOptions) {
    this.#url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The assistant's reply text; throws `EndpointError` after the retries are spent. */
  async complete(messages: ChatMessage[], options: CompleteOptions): Promise<string> {
    const body = JSON.stringify({
      model: options.model,
      messages,
      temperature: options.temperature ?? 0.2,
      ...(options.json ? { response_format: { type: "json_object" } } : {}),
    });
    const retries = this.options.maxRetries ?? 5;
    let backoff = this.options.backoffMs ?? 1000;
    for (let attempt = 0;; attempt++) {
      let retryAfterMs: number | undefined;
      let failure: EndpointError;
      try {
        const response = await fetch(this.#url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          },
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000),
        });
        const text = await response.text();
        if (response.ok) return replyText(this.#url, text);
        failure = statusError(this.#url, response.status, text, options.model);
        const header = response.headers.get("retry-after");
        if (header !== null && Number.isFinite(Number(header))) {
          retryAfterMs = Number(header) * 1000;
        }
      } catch (e) {
        if (e instanceof EndpointError) throw e;
        const err = e as Error;
        const what = err.name === "TimeoutError"
          ? `no reply within ${this.options.timeoutMs ?? 120_000} ms`
          : err.message;
        failure = new EndpointError(`${this.#url}: ${what}`, 0, false);
      }
      const retryable = failure.status === 0 || failure.status === 429 || failure.status >= 500;
      if (!retryable || attempt >= retries) {
        if (retryable) failure.message += ` (gave up after ${attempt + 1} attempts)`;
        throw failure;
      }
      await this.#sleep(Math.min(retryAfterMs ?? backoff, this.options.maxBackoffMs ?? 60_000));
      backoff *= 2;
    }
  }
}

function replyText(url: string, text: string): string {
  let content: unknown;
  try {
    content = JSON.parse(text)?.choices?.[0]?.message?.content;
  } catch {
    content = undefined;
  }
  if (typeof content !== "string") {
    throw new EndpointError(
      `${url}: the reply is not a chat completion (no choices[0].message.content): ` +
        JSON.stringify(text.slice(0, 200)),
      200,
      false,
    );
  }
  return content;
}

function statusError(url: string, status: number, body: string, model: string): EndpointError {
  let detail = body.slice(0, 300);
  try {
    const parsed = JSON.parse(body);
    detail = parsed?.error?.message ?? parsed?.message ?? detail;
  } catch { /* not JSON: keep the text */ }
  const said = detail ? ` (the server said: ${detail})` : "";
  if (status === 401 || status === 403) {
    return new EndpointError(
      `${url}: ${status} ${status === 401 ? "Unauthorized" : "Forbidden"}: the API key is ` +
        `wrong or missing; set OPENAI_API_KEY or pass --api-key${said}`,
      status,
      true,
    );
  }
  if (status === 404) {
    return new EndpointError(
      `${url}: 404 Not Found: either the base URL is wrong (it usually ends in /v1, e.g. ` +
        `http://127.0.0.1:8000/v1) or the server has no model "${model}" (GET …/v1/models ` +
        `lists them; set MODEL or pass --model)${said}`,
      status,
      true,
    );
  }
  return new EndpointError(`${url}: HTTP ${status}${said}`, status, false);
}
