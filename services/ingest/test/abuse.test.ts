/**
 * Abuse controls of ingest (issue 12, items 3, 7, 8, 11):
 *   - a flood of forged tokens from one address: 401 until AUTH_FAILURE_MAX, then 429 before the
 *     token is even parsed, audited as at most 2 aggregated events (one per window), while a valid
 *     caller from another address is served;
 *   - the per-tenant order quota counts each targeted publish, refuses with 429 + Retry-After, and
 *     leaves other tenants alone; a per-tenant override comes from `ow_tenants`;
 *   - a revoked client's token (cached as verified) is refused within a second.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { KV_BUCKETS, STREAMS } from '@orderwire/platform';
import { startNats, startRedis, waitFor, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;

/** AUTH_FAILURE_MAX in this suite. */
const FAILURE_MAX = 20;
/** Forged requests in the flood. */
const FLOOD = 1_000;
/** INGEST_TENANT_ORDERS_PER_MINUTE in this suite. */
const QUOTA = 5;

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

beforeAll(async () => {
  [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  t = await buildTestApp({
    natsUrl: nats.url,
    redisUrl: redis.url,
    jwksUrl: jwks.url,
    env: { AUTH_FAILURE_MAX: String(FAILURE_MAX), INGEST_TENANT_ORDERS_PER_MINUTE: String(QUOTA) },
  });
  ins = await inspector(nats.url);
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

/** Every aggregated event on `audit._system.auth_failures`. */
async function authFailureEvents(): Promise<Array<Record<string, unknown>>> {
  const consumer = await jetstream(t.nc).consumers.get(STREAMS.AUDIT, { filter_subjects: ['audit._system.auth_failures'] });
  const pending = (await consumer.info()).num_pending;
  const out: Array<Record<string, unknown>> = [];
  if (pending === 0) return out;
  for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
    out.push(m.json<Record<string, unknown>>());
    if (out.length >= pending) break;
  }
  return out;
}

function forged(i: number): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: `forged-${i}` })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: 'x', tid: 'victim', typ: 'client', scope: 'orders:write' })).toString('base64url');
  return `${header}.${payload}.${Buffer.alloc(64, i % 256).toString('base64url')}`;
}

describe('a flood of forged tokens', () => {
  it(`${FLOOD} forged tokens from one address: 401 until ${FAILURE_MAX} failures, then 429 unread; at most 2 audit events; other callers served`, async () => {
    await t.failures.flush();
    const codes = new Map<string, number>();
    const started = performance.now();
    for (let i = 0; i < FLOOD; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/orders', remoteAddress: '192.0.2.66', headers: bearer(forged(i)), payload: order() });
      const code = `${res.statusCode} ${res.json<ErrorBody>().error.code}`;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (i >= FAILURE_MAX) {
        expect(res.statusCode).toBe(429);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    const elapsedMs = performance.now() - started;
    expect([...codes.entries()]).toEqual([
      ['401 ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY', FAILURE_MAX],
      ['429 ORDERWIRE_ERR_TOO_MANY_AUTH_FAILURES', FLOOD - FAILURE_MAX],
    ]);
    // A generous bound for a loaded 2-core machine; the point is that nothing per request is expensive.
    expect(elapsedMs).toBeLessThan(20_000);

    const valid = await jwks.sign({ tenant: 'flood-bystander', scopes: ['orders:write'] });
    const ok = await t.app.inject({ method: 'POST', url: '/v1/orders', remoteAddress: '192.0.2.77', headers: bearer(valid), payload: order() });
    expect(ok.statusCode).toBe(202);

    await t.failures.flush();
    const events = (await authFailureEvents()).filter((e) => e.source === '192.0.2.66');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeLessThanOrEqual(2);
    expect(events.reduce((n, e) => n + (e.count as number), 0)).toBe(FAILURE_MAX);
    expect(events[0]).toMatchObject({ service: 'ingest', aggregated: true, actor: { type: 'anonymous' } });
    const text = await t.metricsRegistry.text();
    expect(text).toMatch(/orderwire_rate_limited_total\{[^}]*route="auth_failures"[^}]*\} 980/);
  });

  it('refuses garbage, oversized headers and disallowed algorithms before any key lookup', async () => {
    const header = (h: object): string => Buffer.from(JSON.stringify(h)).toString('base64url');
    const cases: Array<[string, string]> = [
      ['not-a-jwt', 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'HS256', kid: 'k' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED'],
      [`${header({ alg: 'none' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED'],
      [`${header({ alg: 'ES256', kid: 'k'.repeat(300) })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${header({ alg: 'ES256' })}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
      [`${Buffer.from('not json').toString('base64url')}.e30.c2ln`, 'ORDERWIRE_ERR_TOKEN_MALFORMED'],
    ];
    for (const [token, code] of cases) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/orders/x', remoteAddress: '192.0.2.90', headers: bearer(token) });
      expect(res.statusCode, token).toBe(401);
      expect(res.json<ErrorBody>().error.code, token).toBe(code);
    }
  });
});

describe('order quota per tenant', () => {
  it('counts each targeted publish, refuses with 429 and Retry-After, and leaves other tenants alone', async () => {
    const a = await jwks.sign({ tenant: 'quota-a', scopes: ['orders:write'] });
    const b = await jwks.sign({ tenant: 'quota-b', scopes: ['orders:write'] });
    const post = (token: string, body: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body });

    // 3 targeted publishes + 2 station publishes = the quota of 5.
    expect((await post(a, order({ displayIds: ['d-1', 'd-2', 'd-3'] }))).statusCode).toBe(202);
    expect((await post(a, order())).statusCode).toBe(202);
    const twoMore = await post(a, order({ displayIds: ['d-1', 'd-2'] }));
    expect(twoMore.statusCode).toBe(429); // would be 6 > 5: refused whole, nothing taken
    expect((await post(a, order())).statusCode).toBe(202); // 5 of 5

    const before = await ins.ordersCount();
    const refused = await post(a, order());
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    const body = refused.json<ErrorBody>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED');
    expect(body.error.details).toMatchObject({ quota: QUOTA, used: QUOTA, cost: 1, windowSeconds: 60 });
    expect(await ins.ordersCount()).toBe(before);

    const batch = await t.app.inject({ method: 'POST', url: '/v1/orders/batch', headers: bearer(a), payload: { orders: [order()] } });
    expect(batch.statusCode).toBe(429);

    // Tenant B has its own budget.
    expect((await post(b, order({ displayIds: ['d-1', 'd-2'] }))).statusCode).toBe(202);
    expect(await t.metricsRegistry.text()).toMatch(/orderwire_quota_exceeded_total\{[^}]*quota="orders"[^}]*\} 3/);
  });

  it('takes a per-tenant override from the tenant record in ow_tenants', async () => {
    const kv = await new Kvm(t.nc).open(KV_BUCKETS.TENANTS);
    await kv.put('quota-big', JSON.stringify({ v: 1, tenant: 'quota-big', name: 'big', status: 'active', createdAt: new Date().toISOString(), quotas: { ordersPerMinute: 8 } }));
    const token = await jwks.sign({ tenant: 'quota-big', scopes: ['orders:write'] });
    const batch = (n: number) => t.app.inject({ method: 'POST', url: '/v1/orders/batch', headers: bearer(token), payload: { orders: Array.from({ length: n }, () => order()) } });
    await waitFor(async () => (await batch(8)).statusCode === 200, { timeoutMs: 5_000, intervalMs: 50, message: 'override applied' });
    expect((await batch(1)).statusCode).toBe(429);
  });
});

describe('client revocation', () => {
  it('refuses a revoked client’s token within a second, although the token was cached as verified', async () => {
    const token = await jwks.sign({ tenant: 'rev-t', clientId: 'owc_revoked_in_test', scopes: ['orders:read'] });
    const get = () => t.app.inject({ method: 'GET', url: '/v1/orders/x', headers: bearer(token) });
    expect((await get()).statusCode).toBe(404); // authenticated: the order is simply unknown
    const kv = await new Kvm(t.nc).open(KV_BUCKETS.REVOKED_CLIENTS);
    const at = Date.now();
    await kv.put('owc_revoked_in_test', JSON.stringify({ v: 1, clientId: 'owc_revoked_in_test', tenant: 'rev-t', revokedAt: new Date().toISOString() }));
    await waitFor(async () => (await get()).statusCode === 401, { timeoutMs: 1_000, intervalMs: 10, message: 'revocation applied' });
    expect(Date.now() - at).toBeLessThan(1_000);
    expect((await get()).json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_TOKEN_REVOKED');
  });
});
