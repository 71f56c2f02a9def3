import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authRedisOptions } from '../src/redis-client.js';
import { makeClient, startAuth, startInfra, type ErrorBody, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let a: TestAuth;
let b: TestAuth;

const env = {
  AUTH_RATE_LIMIT_TOKEN_PER_CLIENT: '5',
  AUTH_RATE_LIMIT_TOKEN_PER_IP: '8',
  AUTH_RATE_LIMIT_ENROLL_PER_IP: '3',
  AUTH_RATE_LIMIT_REFRESH_PER_IP: '4',
  AUTH_RATE_LIMIT_WINDOW: '1m',
};

beforeAll(async () => {
  infra = await startInfra();
  a = await startAuth(infra, env);
  b = await startAuth(infra, env);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await infra?.dispose();
});

function guess(t: TestAuth, clientId: string, ip: string) {
  return t.auth.app.inject({
    method: 'POST',
    url: '/v1/oauth/token',
    remoteAddress: ip,
    payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: `guess-${Math.random()}` },
  });
}

describe('rate limits', () => {
  it('brute force on one client id hits 429 with Retry-After and the error shape, across replicas', async () => {
    const c = await makeClient(a, ['orders:read']);
    const statuses: number[] = [];
    // Alternate replicas and addresses: the per-client budget lives in Redis, shared by all.
    for (let i = 0; i < 7; i++) statuses.push((await guess(i % 2 === 0 ? a : b, c.clientId, `10.0.0.${i + 1}`)).statusCode);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    const res = await guess(a, c.clientId, '10.0.1.1');
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    const body = res.json<ErrorBody>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_AUTH_RATE_LIMITED');
    expect(body.error.message).toMatch(/retry in \d+s/);
    expect(body.error.details?.retryAfter).toBeGreaterThan(0);
    // Even the right secret is refused while the client id is throttled.
    const right = await a.auth.app.inject({
      method: 'POST',
      url: '/v1/oauth/token',
      remoteAddress: '10.0.1.2',
      payload: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret },
    });
    expect(right.statusCode).toBe(429);
    expect(await a.auth.metrics.text()).toMatch(/orderwire_rate_limited_total\{[^}]*route="oauth_token_client"[^}]*\} [1-9]/);
  });

  it('counts every request of a concurrent burst once, in one budget (autopipelined counts)', async () => {
    // 12 guesses at once over both replicas: their counts share writes to Redis, yet each is its
    // own hit — exactly the per-address budget (8) passes, the rest are refused.
    expect(authRedisOptions()).toMatchObject({ enableAutoPipelining: true, enableOfflineQueue: false });
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => guess(i % 2 === 0 ? a : b, `owc_burst${i}`, '10.7.7.7')));
    const statuses = burst.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(8);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    // And the budget is spent for the next one too, on either replica.
    expect((await guess(b, 'owc_burst-next', '10.7.7.7')).statusCode).toBe(429);
  });

  it('limits one address across many client ids', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await guess(a, `owc_spray${i}`, '10.9.9.9')).statusCode);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect(statuses.indexOf(429)).toBe(8);
  });

  it('limits enrollment and refresh attempts per address', async () => {
    const enrollStatuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await a.auth.app.inject({
        method: 'POST',
        url: '/v1/displays/enroll',
        remoteAddress: '10.2.2.2',
        payload: { enrollmentCode: 'AAAA-BBBB' },
      });
      enrollStatuses.push(res.statusCode);
    }
    expect(enrollStatuses).toEqual([400, 400, 400, 429]);
    const refreshStatuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await b.auth.app.inject({
        method: 'POST',
        url: '/v1/token/refresh',
        remoteAddress: '10.3.3.3',
        payload: { refreshToken: 'x.y' },
      });
      refreshStatuses.push(res.statusCode);
    }
    expect(refreshStatuses).toEqual([401, 401, 401, 401, 429]);
  });

  it('keeps limiting (per process) and keeps serving while Redis is down', async () => {
    const c = await makeClient(a, ['orders:read']);
    await infra.redis.stop();
    try {
      const ok = await a.auth.app.inject({
        method: 'POST',
        url: '/v1/oauth/token',
        remoteAddress: '10.4.4.4',
        payload: { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret },
      });
      expect(ok.statusCode).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await guess(a, c.clientId, `10.5.0.${i}`)).statusCode);
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
      expect(await a.auth.metrics.text()).toMatch(/orderwire_auth_rate_limit_fallback_total\{[^}]*\} [1-9]/);
      const ready = await a.auth.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json<{ checks: Record<string, { ok: boolean }> }>().checks.redis?.ok).toBe(false);
    } finally {
      await infra.redis.start();
    }
  });
});
