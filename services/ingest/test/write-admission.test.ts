/**
 * POST /v1/orders counts the tenant's write rate limit and takes its order quota in ONE Redis
 * round trip (routes/common.ts writeAdmission), where the rate-limit plugin and the quota made
 * two. The decisions, codes and headers are the plugin's: these tests pin them against the batch
 * route, which still counts through the plugin and shares the same budget.
 */
import { startNats, startRedis, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;

/** INGEST_RATE_LIMIT_MAX in this suite. */
const LIMIT = 6;
/** INGEST_TENANT_ORDERS_PER_MINUTE in this suite. */
const QUOTA = 4;

interface ErrorBody {
  error: { code: string; details?: Record<string, unknown> };
}

beforeAll(async () => {
  [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  t = await buildTestApp({
    natsUrl: nats.url,
    redisUrl: redis.url,
    jwksUrl: jwks.url,
    env: { INGEST_RATE_LIMIT_MAX: String(LIMIT), INGEST_RATE_LIMIT_WINDOW: '1m', INGEST_TENANT_ORDERS_PER_MINUTE: String(QUOTA) },
  });
  ins = await inspector(nats.url);
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

const post = (token: string, body: Record<string, unknown> = order(), headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/v1/orders', headers: { ...bearer(token), ...headers }, payload: body });
const batch = (token: string, n: number) =>
  t.app.inject({ method: 'POST', url: '/v1/orders/batch', headers: bearer(token), payload: { orders: Array.from({ length: n }, () => order()) } });
const limitHeaders = (res: { headers: Record<string, unknown> }) => ({
  limit: res.headers['x-ratelimit-limit'],
  remaining: res.headers['x-ratelimit-remaining'],
  reset: res.headers['x-ratelimit-reset'],
  retryAfter: res.headers['retry-after'],
});

async function scriptCalls(): Promise<number> {
  const info = await t.redis!.info('commandstats');
  const n = (cmd: string): number => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return n('eval') + n('evalsha');
}

describe('POST /v1/orders: rate limit and quota in one round trip', () => {
  it('makes one Redis script call per accepted order (two before: the plugin hit, then the quota take)', async () => {
    const token = await jwks.sign({ tenant: 'adm-rt', scopes: ['orders:write'] });
    await t.redis!.config('RESETSTAT');
    const before = await scriptCalls(); // RESETSTAT counts itself, not scripts
    for (let i = 0; i < 3; i++) expect((await post(token)).statusCode).toBe(202);
    expect((await scriptCalls()) - before).toBe(3);
    // Both counters moved, under the keys the plugin and the quota used.
    expect(await t.redis!.get('ow:rl:ingest:write:adm-rt')).toBe('3');
    expect(await t.redis!.get('ow:rl:ingest:quota:orders:adm-rt')).toBe('3');
  });

  it('sets the x-ratelimit-* headers the plugin sets, on one budget shared with the batch route', async () => {
    const token = await jwks.sign({ tenant: 'adm-hdr', scopes: ['orders:write'] });
    const one = await post(token);
    expect(one.statusCode).toBe(202);
    expect(limitHeaders(one)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 1), retryAfter: undefined });
    const viaPlugin = await batch(token, 1);
    expect(viaPlugin.statusCode).toBe(200);
    expect(limitHeaders(viaPlugin)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 2), retryAfter: undefined });
    const two = await post(token);
    expect(limitHeaders(two)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 3) });
    for (const res of [one, viaPlugin, two]) {
      const reset = Number(res.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
    }
  });

  it('trips the rate limit with the plugin’s 429, headers and metric, and takes nothing from the quota', async () => {
    const token = await jwks.sign({ tenant: 'adm-rl', scopes: ['orders:write'] });
    // Burn the budget with requests that take no quota: bodies the validator refuses (counted as the plugin counted them).
    for (let i = 0; i < LIMIT; i++) {
      const bad = await post(token, order({ items: [] }));
      expect(bad.statusCode).toBe(400);
      expect(bad.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_ORDER');
      expect(limitHeaders(bad)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 1 - i) });
    }
    const metricBefore = await t.metricsRegistry.text();
    const before = await ins.ordersCount();
    const refused = await post(token);
    expect(refused.statusCode).toBe(429);
    const body = refused.json<ErrorBody>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_INGEST_RATE_LIMITED');
    expect(body.error.details).toMatchObject({ max: LIMIT, windowSeconds: 60 });
    const h = limitHeaders(refused);
    expect(h).toMatchObject({ limit: String(LIMIT), remaining: '0' });
    expect(Number(h.retryAfter)).toBeGreaterThan(0);
    expect(h.retryAfter).toBe(h.reset);
    expect(body.error.details?.retryAfterSeconds).toBe(Number(h.retryAfter));
    // Over the limit, a bad body is answered 429 too (the plugin counted before the body was checked).
    const badOver = await post(token, order({ items: [] }));
    expect(badOver.statusCode).toBe(429);
    expect(badOver.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_RATE_LIMITED');
    // So is an invalid idempotency key.
    const keyOver = await post(token, order(), { 'idempotency-key': 'has space' });
    expect(keyOver.statusCode).toBe(429);
    // And the batch route, through the plugin, sees the same spent budget.
    expect((await batch(token, 1)).statusCode).toBe(429);
    expect(await ins.ordersCount()).toBe(before);
    expect(await t.redis!.get('ow:rl:ingest:quota:orders:adm-rl')).toBeNull();
    const count = (text: string): number =>
      Number(/orderwire_rate_limited_total\{[^}]*route="\/v1\/orders"[^}]*\} (\d+)/.exec(text)?.[1] ?? NaN);
    expect(count(await t.metricsRegistry.text()) - count(metricBefore)).toBe(3);
  });

  it('trips the quota with 429 QUOTA_EXCEEDED and Retry-After, and the refused request still counts against the rate limit', async () => {
    const token = await jwks.sign({ tenant: 'adm-q', scopes: ['orders:write'] });
    expect((await post(token, order({ displayIds: ['d-1', 'd-2', 'd-3'] }))).statusCode).toBe(202);
    const tooMany = await post(token, order({ displayIds: ['d-1', 'd-2'] })); // 3 + 2 > 4: refused whole
    expect(tooMany.statusCode).toBe(429);
    const body = tooMany.json<ErrorBody>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED');
    expect(body.error.details).toMatchObject({ quota: QUOTA, used: 3, cost: 2, windowSeconds: 60 });
    expect(Number(tooMany.headers['retry-after'])).toBeGreaterThan(0);
    expect(limitHeaders(tooMany)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 2) });
    expect((await post(token)).statusCode).toBe(202); // 4 of 4
    expect(await t.redis!.get('ow:rl:ingest:quota:orders:adm-q')).toBe(String(QUOTA));
    expect(await t.redis!.get('ow:rl:ingest:write:adm-q')).toBe('3');
  });

  it('an invalid idempotency key or an oversized order is refused with its own 400, counted against the rate limit, no quota taken', async () => {
    const token = await jwks.sign({ tenant: 'adm-400', scopes: ['orders:write'] });
    const badKey = await post(token, order(), { 'idempotency-key': 'has space' });
    expect(badKey.statusCode).toBe(400);
    expect(badKey.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY');
    expect(limitHeaders(badKey)).toMatchObject({ limit: String(LIMIT), remaining: String(LIMIT - 1) });
    expect(await t.redis!.get('ow:rl:ingest:write:adm-400')).toBe('1');
    expect(await t.redis!.get('ow:rl:ingest:quota:orders:adm-400')).toBeNull();
  });

  it('the service\'s Redis client pipelines what one turn of the event loop sends: one write, each command its own answer', async () => {
    const client = t.redis!;
    expect(client.options.enableAutoPipelining).toBe(true);
    const answers = Promise.all([client.get('ow:rl:ingest:write:adm-none'), client.incr('ow:pipelined'), client.incr('ow:pipelined')]);
    // Queued together, written at the next setImmediate in one pipeline.
    expect(client.autoPipelineQueueSize).toBe(3);
    expect(await answers).toEqual([null, 1, 2]);
  });

  it('Redis down: both limits still trip, counted per process', async () => {
    const token = await jwks.sign({ tenant: 'adm-down', scopes: ['orders:write'] });
    await redis.kill();
    try {
      for (let i = 0; i < QUOTA; i++) expect((await post(token)).statusCode).toBe(202);
      const quota = await post(token);
      expect(quota.statusCode).toBe(429);
      expect(quota.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED');
      expect((await post(token)).json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED'); // 6 of 6 hits
      const limited = await post(token);
      expect(limited.statusCode).toBe(429);
      expect(limited.json<ErrorBody>().error.code).toBe('ORDERWIRE_ERR_INGEST_RATE_LIMITED');
    } finally {
      await redis.start();
    }
  });
});
