/**
 * Per-tenant rate limit (Redis-backed, failing open to per-process counting when Redis is down)
 * and the OpenAPI document.
 */
import { startNats, startRedis, waitFor, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;

const LIMIT = 3;

beforeAll(async () => {
  [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  t = await buildTestApp({
    natsUrl: nats.url,
    redisUrl: redis.url,
    jwksUrl: jwks.url,
    env: { INGEST_RATE_LIMIT_MAX: String(LIMIT), INGEST_RATE_LIMIT_WINDOW: '1m' },
  });
  ins = await inspector(nats.url);
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

const post = (token: string) => t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: order() });

describe('per-tenant rate limit', () => {
  it('refuses a tenant over its budget with 429 in the error shape, counts it, and leaves other tenants alone', async () => {
    const a = await jwks.sign({ tenant: 'rl-a', scopes: ['orders:write', 'orders:read'] });
    const b = await jwks.sign({ tenant: 'rl-b', scopes: ['orders:write'] });
    for (let i = 0; i < LIMIT; i++) expect((await post(a)).statusCode).toBe(202);
    const before = await ins.ordersCount();
    const refused = await post(a);
    expect(refused.statusCode).toBe(429);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(await ins.ordersCount()).toBe(before);
    // Another tenant has its own budget; reads have a budget separate from writes.
    expect((await post(b)).statusCode).toBe(202);
    const read = await t.app.inject({ method: 'GET', url: '/v1/orders/x', headers: bearer(a) });
    expect(read.statusCode).toBe(404);
    // The counter lives in Redis: shared by every ingest instance.
    const keys = await t.redis!.keys('ow:rl:ingest:*');
    expect(keys).toEqual(expect.arrayContaining(['ow:rl:ingest:write:rl-a', 'ow:rl:ingest:write:rl-b']));
    const text = await t.metricsRegistry.text();
    expect(text).toMatch(/orderwire_rate_limited_total\{[^}]*route="\/v1\/orders"[^}]*\} 1/);
    expect(text).toMatch(/orderwire_rate_limited_total\{[^}]*service="ingest"/);
  });

  it('fails open to per-process counting while Redis is down, and returns to Redis after', async () => {
    const c = await jwks.sign({ tenant: 'rl-c', scopes: ['orders:write'] });
    await redis.kill();
    const started = Date.now();
    // Still served (fail open), and still limited: the local limiter counts.
    for (let i = 0; i < LIMIT; i++) expect((await post(c)).statusCode).toBe(202);
    expect((await post(c)).statusCode).toBe(429);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await t.metricsRegistry.text()).toMatch(/orderwire_ingest_rate_limit_degraded\{[^}]*\} 1/);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200); // Redis is not critical for intake
    expect(ready.json<{ checks: Record<string, { ok: boolean }> }>().checks['rate-limit-redis']!.ok).toBe(false);

    await redis.start();
    const d = await jwks.sign({ tenant: 'rl-d', scopes: ['orders:write'] });
    await waitFor(
      async () => {
        expect((await post(d)).statusCode).toBe(202);
        return (await t.metricsRegistry.text()).match(/orderwire_ingest_rate_limit_degraded\{[^}]*\} 0/) !== null;
      },
      { timeoutMs: 10_000, message: 'limiter back on Redis' },
    );
  });
});

describe('OpenAPI', () => {
  it('serves the document at /docs/json with every route, the bearer scheme and the error schema', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown>; requestBody?: unknown }>>;
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/v1/orders',
      '/v1/orders/batch',
      '/v1/orders/{orderId}',
      '/v1/webhooks',
      '/v1/webhooks/{id}',
      '/v1/webhooks/{id}/deliveries',
      '/v1/webhooks/{id}/deliveries/{deliveryId}/retry',
      '/v1/webhooks/{id}/rotate-secret',
    ]);
    expect(doc.paths['/v1/webhooks']!.post!.security).toEqual([{ bearerAuth: ['webhooks:manage'] }]);
    expect(Object.keys(doc.paths['/v1/webhooks/{id}']!).sort()).toEqual(['delete', 'get', 'patch']);
    expect(doc.paths['/v1/orders']!.post!.security).toEqual([{ bearerAuth: ['orders:write'] }]);
    expect(doc.paths['/v1/orders/{orderId}']!.get!.security).toEqual([{ bearerAuth: ['orders:read'] }]);
    expect(Object.keys(doc.paths['/v1/orders']!.post!.responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '403', '409', '413', '429', '503']),
    );
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The body schema is the shared OrderSchema (its fields show up in the document).
    expect(JSON.stringify(doc.paths['/v1/orders']!.post!.requestBody)).toContain('displayIds');
    const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
    // The security headers' CSP lets the page load what it references, all from its own origin.
    const csp = String(ui.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const assets = [...ui.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect(asset, 'same-origin asset').not.toMatch(/^(https?:)?\/\//);
      const res = await t.app.inject({ method: 'GET', url: new URL(asset, 'http://x/docs/').pathname });
      expect(res.statusCode, asset).toBe(200);
    }
  });
});
