/**
 * The HTTP base's hardening, over a real port where it matters (timeouts are Node's, so only a
 * real socket proves them): slow clients are cut within the configured bound, oversize bodies
 * get 413 in the error shape, every response carries the security headers, CORS is explicit,
 * and the admin listener takes /metrics and the detailed readiness off the public port.
 */
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealth } from '../src/health.js';
import { adminAddress, createHttpServer, type CreateHttpServerOptions } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';

const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const a of apps.splice(0)) await a.close();
});

function build(options: Partial<CreateHttpServerOptions> = {}): FastifyInstance {
  const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
  const health = createHealth();
  health.register('nats', async () => ({ ok: true, detail: 'nats://10.0.0.7:4222 rtt 0.2 ms' }));
  health.markStarted();
  const app = createHttpServer({ logger, health, metrics: createMetrics({ service: 'test', defaultMetrics: false }), ...options });
  app.post('/v1/echo', async (req) => ({ got: req.body }));
  app.get('/v1/ip', async (req) => ({ ip: req.ip }));
  apps.push(app);
  return app;
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

interface SlowResult {
  /** ms from the first byte sent until the server closed the socket. */
  closedAfterMs: number;
  response: string;
}

/** Opens a raw socket, writes `head`, then `drip` one byte every `everyMs` until the server hangs up. */
function slowClient(port: number, head: string, everyMs: number, drip: string, limitMs: number): Promise<SlowResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let response = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`server still holds the slow connection after ${limitMs} ms`));
    }, limitMs);
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (!socket.destroyed && socket.writable) socket.write(drip[i++ % drip.length]!);
      }, everyMs);
    });
    socket.on('data', (d: Buffer) => (response += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: Date.now() - started, response });
    });
  });
}

describe('HTTP timeouts over a real port', () => {
  it('cuts a client that sends headers, then one body byte every 5 s, within the request timeout', async () => {
    const requestTimeoutMs = 6_000;
    const port = await listen(build({ timeouts: { requestTimeoutMs, headersTimeoutMs: 2_000, connectionTimeoutMs: 60_000 } }));
    const head = `POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`;
    const r = await slowClient(port, head, 5_000, '"a', 20_000);
    // Bound: the request timeout plus Node's check interval (1 s) plus scheduling slack.
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(requestTimeoutMs - 500);
    expect(r.closedAfterMs).toBeLessThan(requestTimeoutMs + 3_000);
    expect(r.response).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);

  it('cuts a client that trickles its headers within the headers timeout', async () => {
    const headersTimeoutMs = 2_000;
    const port = await listen(build({ timeouts: { requestTimeoutMs: 30_000, headersTimeoutMs } }));
    const r = await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 500, 'X-Slow: 1\r\n', 15_000);
    expect(r.closedAfterMs).toBeLessThan(headersTimeoutMs + 3_000);
    expect(r.response).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const port = await listen(build({ timeouts: { keepAliveTimeoutMs: 1_000 } }));
    const r = await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 60_000, ' ', 10_000);
    expect(r.response).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closedAfterMs).toBeLessThan(4_000);
  }, 20_000);
});

describe('body limits over a real port', () => {
  it('answers an oversize body with 413 in the error shape', async () => {
    const port = await listen(build({ bodyLimit: 4096 }));
    const res = await fetch(`http://127.0.0.1:${port}/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(5000) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: { code: 'ORDERWIRE_ERR_PAYLOAD_TOO_LARGE', message: expect.stringContaining('4096') as unknown },
    });
  });
});

describe('security headers', () => {
  it('are on every response — success, error, 404 and /metrics — and x-powered-by never is', async () => {
    const app = build();
    for (const [method, url] of [
      ['GET', '/healthz'],
      ['GET', '/metrics'],
      ['GET', '/nope'],
      ['POST', '/v1/echo'],
    ] as const) {
      const res = await app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: method === 'POST' ? '{bad' : undefined });
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
      expect(res.headers['content-security-policy'], url).toContain("default-src 'self'");
      expect(res.headers['content-security-policy'], url).not.toContain('upgrade-insecure-requests');
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['x-powered-by'], url).toBeUndefined();
      // Helmet's whole set, computed once at start (not per request), still reaches every response.
      expect(res.headers['cross-origin-resource-policy'], url).toBe('same-site');
      expect(res.headers['strict-transport-security'], url).toMatch(/^max-age=\d+/);
      expect(res.headers['referrer-policy'], url).toBe('no-referrer');
      expect(res.headers['x-dns-prefetch-control'], url).toBe('off');
    }
  });
});

describe('CORS', () => {
  it('is off by default: no Access-Control-Allow-Origin, and a preflight is not answered as allowed', async () => {
    const app = build();
    const res = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/echo',
      headers: { origin: 'http://127.0.0.1:3005', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows exactly the configured origins', async () => {
    const app = build({ corsOrigins: ['http://127.0.0.1:3005'] });
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/echo',
      headers: { origin: 'http://127.0.0.1:3005', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('http://127.0.0.1:3005');
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
    const other = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'http://127.0.0.1:3006' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('admin listener', () => {
  it('unset: /metrics and the detailed readiness stay on the public port', async () => {
    const app = build();
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toHaveProperty('checks.nats');
    expect(adminAddress(app)).toBeUndefined();
  });

  it('set: /metrics and detailed readiness only on the admin port; the public port keeps /healthz and a brief /readyz', async () => {
    const app = build({ admin: { host: '127.0.0.1', port: 0 } });
    const port = await listen(app);
    const admin = adminAddress(app);
    expect(admin).toBeDefined();
    const pub = `http://127.0.0.1:${port}`;
    const adm = `http://127.0.0.1:${admin!.port}`;

    expect((await fetch(`${pub}/metrics`)).status).toBe(404);
    expect((await fetch(`${pub}/healthz`)).status).toBe(200);
    const brief = await fetch(`${pub}/readyz`);
    expect(brief.status).toBe(200);
    expect(await brief.json()).toEqual({ ok: true, state: 'running' });

    const metrics = await fetch(`${adm}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('orderwire_http_request_duration_seconds');
    const detailed = await fetch(`${adm}/readyz`);
    expect(await detailed.json()).toMatchObject({ ok: true, checks: { nats: { ok: true } } });
    // Application routes are not on the admin port.
    expect((await fetch(`${adm}/v1/ip`)).status).toBe(404);

    await app.close();
    apps.splice(apps.indexOf(app), 1);
    await expect(fetch(`${adm}/healthz`)).rejects.toThrow();
  });

  it('a taken admin port fails the start', async () => {
    const first = build({ admin: { host: '127.0.0.1', port: 0 } });
    await listen(first);
    const taken = adminAddress(first)!.port;
    const second = build({ admin: { host: '127.0.0.1', port: taken } });
    await expect(listen(second)).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('a closing server', () => {
  it('answers a request that reaches it after the close began with 503, the error shape and Retry-After, and finishes the one in flight', async () => {
    const app = build();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    app.get('/v1/slow', async () => {
      await held;
      return { done: true };
    });
    const port = await listen(app);
    apps.splice(apps.indexOf(app), 1);
    // A kept-alive client sends its next request on the connection the moment the previous answer
    // arrives — here, after the close began (the server no longer accepts connections, but this one
    // was busy, so the close did not reap it).
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const ended = new Promise<void>((r) => socket.on('close', () => r()));
    await new Promise<void>((r) => socket.on('connect', () => r()));
    socket.write(`GET /v1/slow HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.once('data', () => socket.write(`GET /v1/ip HTTP/1.1\r\nHost: x\r\n\r\n`));
    await new Promise((r) => setTimeout(r, 100));
    const closed = app.close();
    await new Promise((r) => setTimeout(r, 50));
    release();
    await closed;
    await ended;
    const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toContain('{"done":true}');
    expect(second).toMatch(/^HTTP\/1\.1 503/);
    expect(second).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(second).toMatch(/\r\nconnection: close\r\n/i);
    expect(second).toContain('"code":"ORDERWIRE_ERR_SHUTTING_DOWN"');
  });
});
