import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, retryAfterMs } from '../src/http.js';
import { orderNumber, type Fleet } from '../src/plan.js';
import { runPublisher } from '../src/publisher.js';

// An in-process stand-in for ingest's HTTP answers: the publisher's pacing and retry logic is
// what is under test here (the smoke test runs it against the real ingest service).
const fleet: Fleet = { runId: 'pub', displays: 4, fanout: 1, stationsPerStore: 2 };
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

async function body(req: IncomingMessage): Promise<{ orderId: string }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { orderId: string };
}

async function ingest(answer: (orderId: string, attempt: number, auth: string | undefined) => { status: number; headers?: Record<string, string>; body?: unknown }): Promise<string> {
  const attempts = new Map<string, number>();
  server = createServer((req, res) => {
    void body(req).then((b) => {
      const attempt = (attempts.get(b.orderId) ?? 0) + 1;
      attempts.set(b.orderId, attempt);
      const a = answer(b.orderId, attempt, req.headers.authorization);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify(a.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('publisher', () => {
  it('publishes rate × duration orders at the rate', async () => {
    const url = await ingest((orderId) => ({ status: 202, body: { orderId, duplicate: false } }));
    const accepted: number[] = [];
    const http = createHttpClient(8);
    const t0 = performance.now();
    const r = await runPublisher({ http, ingestUrl: url, fleet, rate: 100, durationS: 0.5, concurrency: 8, token: () => 't', refresh: async () => {}, onAccepted: (n) => accepted.push(n) });
    http.close();
    expect(r).toMatchObject({ scheduled: 50, accepted: 50, failed: 0, retried: 0 });
    expect(accepted.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(performance.now() - t0).toBeGreaterThan(450);
    expect(r.httpLatency.count).toBe(50);
  });

  it('retries 503 after Retry-After with the same order id, and counts duplicate:true', async () => {
    const url = await ingest((orderId, attempt) =>
      orderNumber('pub', orderId) === 1 && attempt === 1
        ? { status: 503, headers: { 'retry-after': '0' } }
        : { status: 202, body: { orderId, duplicate: attempt > 1 } },
    );
    const http = createHttpClient(4);
    const r = await runPublisher({ http, ingestUrl: url, fleet, rate: 50, durationS: 0.1, concurrency: 4, token: () => 't', refresh: async () => {}, onAccepted: () => {} });
    http.close();
    expect(r).toMatchObject({ scheduled: 5, accepted: 5, retried: 1, acceptedDuplicate: 1, failed: 0, statuses: { '503': 1 } });
  });

  it('refreshes the token once on 401 and gives up on other 4xx', async () => {
    let token = 'old';
    let refreshes = 0;
    const url = await ingest((orderId, _attempt, auth) => {
      if (orderNumber('pub', orderId) === 2) return { status: 400 };
      return auth === 'Bearer new' ? { status: 202, body: { orderId } } : { status: 401 };
    });
    const http = createHttpClient(4);
    const r = await runPublisher({
      http,
      ingestUrl: url,
      fleet,
      rate: 100,
      durationS: 0.04,
      concurrency: 1,
      token: () => token,
      refresh: async () => {
        refreshes++;
        token = 'new';
      },
      onAccepted: () => {},
    });
    http.close();
    expect(refreshes).toBe(1);
    expect(r).toMatchObject({ scheduled: 4, accepted: 3, failed: 1 });
    expect(r.statuses).toMatchObject({ '400': 1, '401': 1 });
  });

  it('reads Retry-After in seconds or as a date', () => {
    expect(retryAfterMs({ 'retry-after': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000)).toBe(6_000);
    expect(retryAfterMs({})).toBeUndefined();
  });
});
