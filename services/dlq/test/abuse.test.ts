/**
 * Abuse controls of the DLQ API (issue 12, items 7 and 11): a per-tenant rate limit, the
 * pre-authentication failure gate against forged-token floods, aggregated audit of refused
 * authentications and of DLQ reads (list / get).
 */
import { jetstream } from '@nats-io/jetstream';
import { AUDIT_SUBJECT_PREFIX } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, startEnv, type Env, type TestApp } from './helpers.js';

let env: Env;
let app: TestApp;

/** DLQ_RATE_LIMIT_MAX in this suite. */
const LIMIT = 5;
/** AUTH_FAILURE_MAX in this suite. */
const FAILURE_MAX = 10;
/** Forged requests in the flood. */
const FLOOD = 500;

beforeAll(async () => {
  env = await startEnv();
  app = await buildApp(env, { rateLimitMax: LIMIT, authFailureMax: FAILURE_MAX, capture: false });
});

afterAll(async () => {
  await app?.close();
  await env?.dispose();
});

interface Aggregated {
  event: string;
  tenant: string;
  source: string;
  count: number;
  reasons: Record<string, number>;
  samples: string[];
  actor?: { type: string; id?: string };
  service: string;
}

async function events(tenant: string, event: string): Promise<Aggregated[]> {
  const consumer = await jetstream(env.nc).consumers.get(STREAMS.AUDIT, { filter_subjects: [`${AUDIT_SUBJECT_PREFIX}.${tenant}.${event}`] });
  const pending = (await consumer.info()).num_pending;
  const out: Aggregated[] = [];
  if (pending === 0) return out;
  for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
    out.push(m.json<Aggregated>());
    if (out.length >= pending) break;
  }
  return out;
}

const code = (res: { json<T>(): T }): string => res.json<{ error: { code: string } }>().error.code;

describe('per-tenant rate limit', () => {
  it(`refuses the ${LIMIT + 1}th read of a tenant in the window with 429 and Retry-After; another tenant is served`, async () => {
    const a = await env.token('rl-a', ['dlq:read']);
    const b = await env.token('rl-b', ['dlq:read']);
    const get = (token: string) => app.app.inject({ method: 'GET', url: '/v1/dlq', headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < LIMIT; i++) expect((await get(a)).statusCode).toBe(200);
    const refused = await get(a);
    expect(refused.statusCode).toBe(429);
    expect(code(refused)).toBe('ORDERWIRE_ERR_DLQ_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await get(b)).statusCode).toBe(200);
    expect(await app.registry.text()).toMatch(/orderwire_rate_limited_total\{[^}]*route="read"[^}]*\} 1/);
  });
});

describe('forged-token flood', () => {
  it(`${FLOOD} forged tokens from one address: 401 until ${FAILURE_MAX} failures, then 429 before verification; at most 2 audit events`, async () => {
    await app.audit.flush();
    // The kid the JWKS really publishes (read from a genuine token's header).
    const genuine = await env.token('flood-t', ['dlq:read']);
    const { kid } = JSON.parse(Buffer.from(genuine.split('.')[0]!, 'base64url').toString()) as { kid: string };
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url');
    const statuses = new Map<string, number>();
    for (let i = 0; i < FLOOD; i++) {
      // A known kid and a wrong signature: the most expensive forged token there is (one ECDSA verify).
      const token = `${header}.${Buffer.from(`{"n":${i}}`).toString('base64url')}.${Buffer.alloc(64, i % 256).toString('base64url')}`;
      const res = await app.app.inject({ method: 'GET', url: '/v1/dlq', remoteAddress: '192.0.2.44', headers: { authorization: `Bearer ${token}` } });
      const key = `${res.statusCode} ${code(res)}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    expect([...statuses.entries()]).toEqual([
      ['401 ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE', FAILURE_MAX],
      ['429 ORDERWIRE_ERR_TOO_MANY_AUTH_FAILURES', FLOOD - FAILURE_MAX],
    ]);
    await app.audit.flush();
    const failures = (await events('_system', 'auth_failures')).filter((e) => e.source === '192.0.2.44');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThanOrEqual(2);
    expect(failures.reduce((n, e) => n + e.count, 0)).toBe(FAILURE_MAX);
    expect(failures[0]).toMatchObject({ service: 'dlq', reasons: { ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE: FAILURE_MAX } });
  });
});

describe('audit of reads', () => {
  it('records list and get (found or not) as one aggregated dlq_reads event per client and window', async () => {
    const token = await env.token('reads-t', ['dlq:read'], 'owc_reader');
    const headers = { authorization: `Bearer ${token}` };
    expect((await app.app.inject({ method: 'GET', url: '/v1/dlq', headers })).statusCode).toBe(200);
    expect((await app.app.inject({ method: 'GET', url: '/v1/dlq?status=open', headers })).statusCode).toBe(200);
    const id = 'a'.repeat(24);
    expect((await app.app.inject({ method: 'GET', url: `/v1/dlq/${id}`, headers })).statusCode).toBe(404);
    await app.audit.flush();
    const reads = await events('reads-t', 'dlq_reads');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({
      tenant: 'reads-t',
      service: 'dlq',
      actor: { type: 'client', id: 'owc_reader' },
      count: 3,
      reasons: { list: 2, get: 1 },
      samples: [id],
    });
  });
});
