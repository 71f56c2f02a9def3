// The JSON-over-HTTP call the operator scripts (demo, smoke) make against the stack's APIs.

/** 10 s: a stack that does not answer a single call in that time is down, not slow. */
export const HTTP_TIMEOUT_MS = 10_000;

/**
 * `method url` with an optional bearer token and JSON body. Resolves `{ status, body }` (the body
 * parsed as JSON when it is JSON, else the text) for every HTTP answer; rejects only when no
 * answer came (refused, reset, timed out), with the cause in the message.
 */
export async function callJson(method, url, { token, body, timeoutMs = HTTP_TIMEOUT_MS } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Error(`${method} ${url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`, { cause: err });
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}
