// The HTTP client of the console: the same public API any client uses (/v1/...), plus the console's
// self-service routes (/console/api/...) and the admin API (/admin/api/...). The token comes from the
// session (sessionStorage) and goes only into the Authorization header, never into a URL.

const TOKEN_KEY = "openmaas.console.token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A failed call, with the fields of the OpenAI error shape the server answers with. */
export class ApiError extends Error {
  constructor(status, message, { code = null, param = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
    this.retryAfter = retryAfter;
  }
}

const listeners = { unauthorized: [] };

/** Called when the server refuses the session's token (revoked, or the user removed). */
export function onUnauthorized(listener) {
  listeners.unauthorized.push(listener);
}

function headers(extra = {}) {
  const result = { Accept: "application/json", ...extra };
  const token = session.token;
  if (token) result.Authorization = `Bearer ${token}`;
  return result;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = null;
  let param = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || null;
      param = body.error.param || null;
    }
  } catch {
    // not JSON (a proxy's error page): keep the status line
  }
  const retry = response.headers.get("Retry-After");
  const error = new ApiError(response.status, message, { code, param, retryAfter: retry ? Number(retry) : null });
  if (response.status === 401 && session.token) {
    for (const listener of listeners.unauthorized) listener(error);
  }
  return error;
}

/** A JSON request; resolves with { body, headers } or throws ApiError. */
export async function call(method, path, { body, signal, extraHeaders } = {}) {
  const init = { method, signal, headers: headers(extraHeaders) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, error.message || "network error", { code: "network" });
  }
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return { body: text ? JSON.parse(text) : null, headers: response.headers };
}

export const get = async (path, options) => (await call("GET", path, options)).body;
export const post = async (path, body, options) => (await call("POST", path, { ...options, body })).body;
export const patch = async (path, body) => (await call("PATCH", path, { body })).body;
export const del = async (path) => (await call("DELETE", path)).body;

/** Check a token without keeping it: the user it belongs to, or ApiError. */
export async function whoIs(token) {
  const response = await fetch("/console/api/me", {
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(response.status, body?.error?.message || response.statusText, { code: body?.error?.code });
  }
  return response.json();
}

/**
 * POST /v1/chat/completions with stream: true. Calls `onChunk(chunk)` for every
 * `chat.completion.chunk`; resolves with the response headers when the stream ends ([DONE]). Abort with
 * `signal` (the stop button): the server stops generating at once.
 */
export async function streamChat(body, { signal, onChunk }) {
  let response;
  try {
    response = await fetch("/v1/chat/completions", {
      method: "POST",
      signal,
      headers: { ...headers({ Accept: "text/event-stream" }), "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, error.message || "network error", { code: "network" });
  }
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return response.headers;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(500, chunk.error.message, { code: chunk.error.type });
      onChunk(chunk);
    }
  }
  return response.headers;
}
