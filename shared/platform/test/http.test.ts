import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defineErrors } from '../src/errors.js';
import { createHealth, type Health } from '../src/health.js';
import { createHttpServer } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { createMetrics, type Metrics } from '../src/metrics.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const ERRORS = defineErrors({
  ORDERWIRE_ERR_TEST_CONFLICT: { status: 409, message: 'order {orderId} conflicts' },
});

interface Ctx {
  app: FastifyInstance;
  health: Health;
  metrics: Metrics;
  logs: string[];
}

let current: FastifyInstance | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

function build(bodyLimit?: number): Ctx {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ service: 'test', version: '0', destination, level: 'debug' });
  const health = createHealth();
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  const app = createHttpServer({ logger, health, metrics, bodyLimit });
  app.post(
    '/v1/things/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z]+$' } }, required: ['id'] },
        body: {
          type: 'object',
          properties: { qty: { type: 'integer', minimum: 1 } },
          required: ['qty'],
          additionalProperties: false,
        },
      },
    },
    async (req) => ({ id: (req.params as { id: string }).id }),
  );
  app.get('/v1/conflict', async () => {
    throw ERRORS.create('ORDERWIRE_ERR_TEST_CONFLICT', { orderId: 'o-1' }, { details: { orderId: 'o-1' } });
  });
  app.get('/v1/coded', async () => {
    // Shape of another package's coded error (e.g. the token verifier's TokenError).
    throw Object.assign(new Error('token expired'), { code: 'ORDERWIRE_ERR_TOKEN_EXPIRED', statusCode: 401 });
  });
  app.get('/v1/crash', async () => {
    throw new Error('db password=hunter2 at /srv/app.js:12');
  });
  current = app;
  return { app, health, metrics, logs };
}

describe('createHttpServer', () => {
  it('GET /healthz answers liveness', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('GET /readyz is 503 until started, 200 with per-check JSON, 503 again when a check fails or stopping', async () => {
    const { app, health } = build();
    let natsOk = true;
    health.register('nats', async () => ({ ok: natsOk, detail: natsOk ? 'rtt 0.2 ms' : 'disconnected' }));

    let res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ ok: false, state: 'starting' });

    health.markStarted();
    res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, checks: { nats: { ok: true, detail: 'rtt 0.2 ms' } } });
    expect(typeof res.json<{ checks: { nats: { ms: number } } }>().checks.nats.ms).toBe('number');

    natsOk = false;
    res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ ok: false, checks: { nats: { ok: false, detail: 'disconnected' } } });

    natsOk = true;
    health.markStopping();
    res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
  });

  it('GET /metrics returns Prometheus text with the route-labelled duration histogram', async () => {
    const { app } = build();
    await app.inject({ method: 'POST', url: '/v1/things/abc', payload: { qty: 1 } });
    await app.inject({ method: 'POST', url: '/v1/things/xyz', payload: { qty: 1 } });
    await app.inject({ method: 'GET', url: '/no/such/path/123' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    expect(text).toContain('# TYPE orderwire_http_request_duration_seconds histogram');
    expect(text).toMatch(
      /orderwire_http_request_duration_seconds_count\{service="test",method="POST",route="\/v1\/things\/:id",status_code="200"\} 2/,
    );
    expect(text).toMatch(/route="\(unmatched\)",status_code="404"/);
    expect(text).not.toContain('/v1/things/abc');
    expect(text).not.toContain('/no/such/path');
  });

  it('maps an OrderwireError to its status and the error body', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'GET', url: '/v1/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      error: { code: 'ORDERWIRE_ERR_TEST_CONFLICT', message: 'order o-1 conflicts', details: { orderId: 'o-1' } },
    });
  });

  it('maps unknown errors to 500 ORDERWIRE_ERR_INTERNAL without leaking internals, and logs them', async () => {
    const { app, logs } = build();
    const res = await app.inject({ method: 'GET', url: '/v1/crash' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'ORDERWIRE_ERR_INTERNAL', message: 'internal server error' } });
    expect(res.body).not.toContain('hunter2');
    const logged = logs.map((l) => JSON.parse(l) as { msg?: string; level: string; err?: { message: string } });
    expect(logged.find((l) => l.msg === 'request failed')).toMatchObject({ level: 'error' });
  });

  it('maps schema validation failures to 400 ORDERWIRE_ERR_VALIDATION with details', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'POST', url: '/v1/things/abc', payload: { qty: 0 } });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { code: string; details: { context: string; issues: { path: string; keyword: string }[] } } }>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_VALIDATION');
    expect(body.error.details.context).toBe('body');
    expect(body.error.details.issues[0]).toMatchObject({ path: '/qty', keyword: 'minimum' });

    const badParam = await app.inject({ method: 'POST', url: '/v1/things/ABC', payload: { qty: 1 } });
    expect(badParam.statusCode).toBe(400);
    expect(badParam.json<{ error: { details: { context: string } } }>().error.details.context).toBe('params');
  });

  it('rejects unknown body fields with 400 instead of silently dropping them', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'POST', url: '/v1/things/abc', payload: { qty: 1, extra: 'x' } });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { code: string; details: { issues: { keyword: string }[] } } }>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_VALIDATION');
    expect(body.error.details.issues[0]).toMatchObject({ keyword: 'additionalProperties' });
  });

  it('keeps the code and status of coded errors from other packages', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'GET', url: '/v1/coded' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'ORDERWIRE_ERR_TOKEN_EXPIRED', message: 'token expired' } });
  });

  it('maps malformed JSON, oversized bodies and wrong media types to 4xx with codes', async () => {
    const { app } = build(64);
    const malformed = await app.inject({
      method: 'POST',
      url: '/v1/things/abc',
      headers: { 'content-type': 'application/json' },
      payload: '{"qty":',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_BAD_REQUEST');

    const big = await app.inject({ method: 'POST', url: '/v1/things/abc', payload: { qty: 1, pad: 'x'.repeat(200) } });
    expect(big.statusCode).toBe(413);
    expect(big.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_PAYLOAD_TOO_LARGE');

    const xml = await app.inject({
      method: 'POST',
      url: '/v1/things/abc',
      headers: { 'content-type': 'application/xml' },
      payload: '<qty>1</qty>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers unknown routes with 404 ORDERWIRE_ERR_NOT_FOUND', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'DELETE', url: '/v1/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'ORDERWIRE_ERR_NOT_FOUND', message: 'route DELETE /v1/nope not found' } });
  });

  it('honours a valid incoming x-request-id, replaces an invalid one with a UUID', async () => {
    const { app, logs } = build();
    const kept = await app.inject({ method: 'GET', url: '/v1/conflict', headers: { 'x-request-id': 'pos-42.abc:1' } });
    expect(kept.headers['x-request-id']).toBe('pos-42.abc:1');
    expect(logs.some((l) => (JSON.parse(l) as { requestId?: string }).requestId === 'pos-42.abc:1')).toBe(true);

    const injected = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\nforged=1' } });
    expect(injected.headers['x-request-id']).toMatch(UUID_RE);

    const none = await app.inject({ method: 'GET', url: '/nowhere' });
    expect(none.headers['x-request-id']).toMatch(UUID_RE);
  });

  it('serves over a real port too', async () => {
    const { app } = build();
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${address}/healthz`, { headers: { 'x-request-id': 'e2e-1' }, signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('e2e-1');
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('the per-request logger', () => {
  const protos: object[] = [];
  function quietServer(): { app: FastifyInstance; logs: Array<Record<string, unknown>>; children: () => number; logger: Logger } {
    const logs: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        cb();
      },
    });
    const logger = createLogger({ service: 'test', version: '0', destination, level: 'warn' });
    // Counts the per-request children (bindings with the request id). pino children inherit this
    // method, so Fastify's own child of the service logger and its children come through it too.
    let made = 0;
    const { child } = logger as unknown as { child: (this: unknown, bindings: Record<string, unknown>, options?: object) => unknown };
    Object.assign(logger, {
      child(this: unknown, bindings: Record<string, unknown>, options?: object) {
        if ('requestId' in bindings) made++;
        return child.call(this, bindings, options);
      },
    });
    const app = createHttpServer({ logger, health: createHealth(), metrics: createMetrics({ service: 'test', defaultMetrics: false }) });
    app.get('/silent', async (request) => {
      request.log.info({ password: 'hunter2' }, 'below the level: not written');
      return { ok: true };
    });
    app.get('/proto', async (request) => {
      protos.push(Object.getPrototypeOf(request.log) as object);
      request.log.info({ step: 'info' }, 'info line');
      return { ok: true };
    });
    app.get('/loud', async (request) => {
      request.log.warn({ password: 'hunter2' }, 'written');
      request.log.child({ orderId: 'o-1' }).error('from a child of the request log');
      return { bindings: (request.log as Logger).bindings() };
    });
    current = app;
    return { app, logs, children: () => made, logger: logger };
  }

  it('is made only when the request writes a line, and then carries the request id (redaction intact)', async () => {
    const { app, logs, children } = quietServer();
    await app.ready();
    const before = children();
    for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'GET', url: '/silent' })).statusCode).toBe(200);
    expect(children()).toBe(before);
    expect(logs).toEqual([]);

    const res = await app.inject({ method: 'GET', url: '/loud', headers: { 'x-request-id': 'req-lazy-1' } });
    expect(res.statusCode).toBe(200);
    expect(children()).toBe(before + 1);
    expect(res.json()).toMatchObject({ bindings: { service: 'test', requestId: 'req-lazy-1' } });
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatchObject({ level: 'warn', requestId: 'req-lazy-1', msg: 'written', password: '[REDACTED]' });
    expect(logs[1]).toMatchObject({ level: 'error', requestId: 'req-lazy-1', orderId: 'o-1', msg: 'from a child of the request log' });
  });

  it('shares its methods between requests, and follows a change of the service logger\'s level', async () => {
    const { app, logs, children, logger } = quietServer();
    await app.ready();
    protos.length = 0;
    const before = children();
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/proto' })).statusCode).toBe(200);
    // One prototype for every request's logger (made once), nothing written at warn.
    expect(new Set(protos).size).toBe(1);
    expect(logs).toEqual([]);
    expect(children()).toBe(before);

    logger.level = 'info';
    expect((await app.inject({ method: 'GET', url: '/proto', headers: { 'x-request-id': 'req-lazy-2' } })).statusCode).toBe(200);
    // Fastify's own request lines are at info too; ours carries the request id.
    expect(logs.filter((l) => l.step === 'info')).toEqual([expect.objectContaining({ level: 'info', requestId: 'req-lazy-2', msg: 'info line' })]);
    expect(children()).toBe(before + 1);
    expect(protos.at(-1)).not.toBe(protos[0]);
  });
});
