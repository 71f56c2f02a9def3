/**
 * Minimal keep-alive JSON over undici's connection pools (one pool per origin, `maxSockets`
 * connections each). The harness shares two cores with the system it measures, so its own cost
 * per request is part of every figure: undici's `request` costs ~25 µs of CPU per keep-alive
 * POST here against ~42 µs for node:http and more for global fetch (docs/benchmarks.md round 10).
 */
import { Agent, errors as undiciErrors } from 'undici';
import { BenchError } from './errors.js';

/** 10 s per request */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

export interface HttpClient {
  request(method: 'GET' | 'POST' | 'DELETE', url: string, options?: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number }): Promise<HttpResponse>;
  close(): void;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function createHttpClient(maxSockets: number): HttpClient {
  const agent = new Agent({ connections: maxSockets, pipelining: 1, keepAliveTimeout: 30_000 });
  return {
    async request(method, url, options = {}) {
      const u = new URL(url);
      if (u.protocol !== 'http:') throw new BenchError('ORDERWIRE_ERR_BENCH_HTTP', `only http:// is supported (loopback): ${url}`);
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const timeout = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
      try {
        const res = await agent.request({
          origin: u.origin,
          path: `${u.pathname}${u.search}`,
          method,
          headers: {
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
            ...options.headers,
          },
          ...(payload === undefined ? {} : { body: payload }),
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
        const text = await res.body.text();
        return { status: res.statusCode, headers: res.headers, body: parseBody(text), text };
      } catch (err) {
        if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
          throw new BenchError('ORDERWIRE_ERR_BENCH_HTTP', `${method} ${url} timed out`, { cause: err });
        }
        throw err;
      }
    },
    close() {
      void agent.destroy().catch(() => undefined);
    },
  };
}

/** `Retry-After` in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(headers: HttpResponse['headers'], now: number = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
