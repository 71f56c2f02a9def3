/**
 * Minimal keep-alive JSON over node:http. Cheaper per request than global fetch, which matters
 * when the harness shares two cores with the system it measures.
 */
import { Agent, request } from 'node:http';
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

export function createHttpClient(maxSockets: number): HttpClient {
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  return {
    request(method, url, options = {}) {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const u = new URL(url);
      if (u.protocol !== 'http:') {
        return Promise.reject(new BenchError('ORDERWIRE_ERR_BENCH_HTTP', `only http:// is supported (loopback): ${url}`));
      }
      return new Promise<HttpResponse>((resolve, reject) => {
        const req = request(
          {
            agent,
            method,
            hostname: u.hostname,
            port: u.port,
            path: `${u.pathname}${u.search}`,
            headers: {
              accept: 'application/json',
              ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
              ...options.headers,
            },
            timeout: options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown = undefined;
              if (text !== '') {
                try {
                  body = JSON.parse(text) as unknown;
                } catch {
                  body = undefined;
                }
              }
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
            });
          },
        );
        req.on('timeout', () => req.destroy(new BenchError('ORDERWIRE_ERR_BENCH_HTTP', `${method} ${url} timed out`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
    close() {
      agent.destroy();
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
