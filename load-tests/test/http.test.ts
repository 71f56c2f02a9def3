/** The harness's HTTP client against a real local server: bodies, headers, timeouts, refusals. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBenchError } from '../src/errors.js';
import { createHttpClient, retryAfterMs } from '../src/http.js';

let server: Server;
let base: string;
const seen: Array<{ method: string; url: string; body: string; headers: Record<string, string | string[] | undefined> }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString(), headers: req.headers });
      if (req.url === '/slow') return; // never answers
      if (req.url === '/text') {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '7' });
        res.end('not json');
        return;
      }
      res.writeHead(req.url!.startsWith('/created') ? 201 : 200, { 'content-type': 'application/json', 'x-Custom': 'yes' });
      res.end(JSON.stringify({ echo: chunks.length === 0 ? null : (JSON.parse(Buffer.concat(chunks).toString()) as unknown) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the harness HTTP client', () => {
  it('sends JSON with its headers and parses JSON answers; other bodies come back as text', async () => {
    const http = createHttpClient(4);
    try {
      const res = await http.request('POST', `${base}/created?x=1`, { body: { a: [1, 'b'] }, headers: { authorization: 'Bearer t' } });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ echo: { a: [1, 'b'] } });
      expect(res.headers['x-custom']).toBe('yes');
      const req = seen.at(-1)!;
      expect(req).toMatchObject({ method: 'POST', url: '/created?x=1', body: '{"a":[1,"b"]}' });
      expect(req.headers).toMatchObject({ authorization: 'Bearer t', 'content-type': 'application/json', accept: 'application/json' });

      const get = await http.request('GET', `${base}/plain`);
      expect(get.body).toEqual({ echo: null });
      expect(seen.at(-1)!.headers['content-type']).toBeUndefined();

      const text = await http.request('DELETE', `${base}/text`);
      expect(text).toMatchObject({ status: 503, body: undefined, text: 'not json' });
      expect(retryAfterMs(text.headers)).toBe(7_000);
    } finally {
      http.close();
    }
  });

  it('gives up on a request after its timeout with a bench error, and refuses non-http URLs', async () => {
    const http = createHttpClient(2);
    try {
      const t0 = performance.now();
      const err: unknown = await http.request('GET', `${base}/slow`, { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(isBenchError(err) && err.code).toBe('ORDERWIRE_ERR_BENCH_HTTP');
      expect((err as Error).message).toContain('timed out');
      expect(performance.now() - t0).toBeLessThan(5_000);
      const refused: unknown = await http.request('GET', 'https://127.0.0.1:1/x').catch((e: unknown) => e);
      expect(isBenchError(refused) && refused.code).toBe('ORDERWIRE_ERR_BENCH_HTTP');
    } finally {
      http.close();
    }
  });
});
