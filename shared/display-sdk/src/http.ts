/**
 * JSON POST over the global `fetch` (browsers and Node ≥ 18), with a timeout and an outside
 * abort. Transport failures (no HTTP answer at all) are told apart from HTTP errors because only
 * they and 5xx/429 are worth retrying.
 */
import type { Timers } from './timing.js';

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpAnswer {
  status: number;
  /** Parsed JSON body, or `undefined` when the body was empty or not JSON. */
  body: unknown;
  /** From a `Retry-After` header (seconds or HTTP date), when present and sane. */
  retryAfterMs?: number;
}

/** No HTTP answer: connection refused/reset, DNS, timeout. */
export class TransportFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportFailure';
  }
}

export async function postJson(
  fetchFn: FetchFn,
  url: string,
  payload: unknown,
  options: { timeoutMs: number; timers: Timers; signal: AbortSignal; now: () => number },
): Promise<HttpAnswer> {
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort();
  if (options.signal.aborted) controller.abort();
  else options.signal.addEventListener('abort', onOuterAbort, { once: true });
  let timedOut = false;
  const timer = options.timers.setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  try {
    let response: Response;
    let text: string;
    try {
      response = await fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      text = await response.text();
    } catch (err) {
      const reason = timedOut
        ? `no answer within ${options.timeoutMs} ms`
        : options.signal.aborted
          ? 'aborted'
          : describeFetchError(err);
      throw new TransportFailure(reason, { cause: err });
    }
    const answer: HttpAnswer = { status: response.status, body: parseJson(text) };
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), options.now);
    if (retryAfterMs !== undefined) answer.retryAfterMs = retryAfterMs;
    return answer;
  } finally {
    options.timers.clearTimeout(timer);
    options.signal.removeEventListener('abort', onOuterAbort);
  }
}

/** `{ error: { code, message } }` of a failed answer, tolerating anything else. */
export function errorOf(body: unknown): { code: string; message: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    code: typeof error?.code === 'string' ? error.code : 'unknown',
    message: typeof error?.message === 'string' ? error.message : 'no error message',
  };
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseRetryAfter(header: string | null, now: () => number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now());
}

function describeFetchError(err: unknown): string {
  // undici hides the useful part (ECONNREFUSED, "other side closed") in `cause`.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}
