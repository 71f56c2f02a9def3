/**
 * Shared test wiring: real nats-server and redis-server from the harness, the app built with
 * `createApp`, and small helpers to get tokens the way clients do.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Scope } from '@orderwire/contracts';
import { createMetrics, ensureTopology, loadTopologyConfig, STREAMS, type Logger } from '@orderwire/platform';
import { startNats, startRedis, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { createApp, type AuthApp } from '../src/app.js';
import { authTopologyLifetimes, loadAuthConfig, type AuthConfig } from '../src/config.js';
import { authRedisOptions } from '../src/redis-client.js';

/** `{ error: { code, message, details? } }` */
export interface ErrorBody {
  error: { code: string; message: string; details?: { issues?: unknown[]; retryAfter?: number } };
}

/** RFC 6749 §5.2 */
export interface OAuthErrorBody {
  error: string;
  error_description: string;
}

export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

export const TEST_KEK = randomBytes(32).toString('base64');

export interface Infra {
  nats: NatsServerHandle;
  redis: RedisServerHandle;
  dispose(): Promise<void>;
}

export async function startInfra(): Promise<Infra> {
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  return {
    nats,
    redis,
    async dispose() {
      await Promise.all([nats.dispose(), redis.dispose()]);
    },
  };
}

export function testConfig(infra: Infra, env: Record<string, string> = {}): AuthConfig {
  return loadAuthConfig({
    NATS_URL: infra.nats.url,
    REDIS_URL: infra.redis.url,
    AUTH_KEK: TEST_KEK,
    LOG_LEVEL: 'silent',
    // Cheaper hashing keeps the suite fast; the default cost is exercised by the e2e test.
    AUTH_SCRYPT_LOG_N: '12',
    ...env,
  });
}

export function silentLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export interface TestAuth {
  auth: AuthApp;
  nc: NatsConnection;
  redis: Redis;
  config: AuthConfig;
  close(): Promise<void>;
}

export async function startAuth(
  infra: Infra,
  env: Record<string, string> = {},
  options: { rotation?: boolean } = {},
): Promise<TestAuth> {
  const config = testConfig(infra, env);
  const logger = silentLogger();
  const nc = await connect({ servers: infra.nats.url, name: 'auth-test' });
  // As `topology apply` does, with the lifetimes of this test's config.
  await ensureTopology(nc, loadTopologyConfig({}, authTopologyLifetimes(config)));
  // The service's own options (autopipelining included).
  const redis = new Redis(infra.redis.url, authRedisOptions());
  redis.on('error', () => undefined);
  await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
  let auth: AuthApp;
  try {
    auth = await createApp({
      config,
      logger,
      nc,
      redis,
      metrics: createMetrics({ service: 'auth', defaultMetrics: false }),
      rotation: options.rotation ?? false,
    });
  } catch (err) {
    redis.disconnect();
    await nc.close();
    throw err;
  }
  auth.health.markStarted();
  return {
    auth,
    nc,
    redis,
    config,
    async close() {
      await auth.close();
      redis.disconnect();
      await nc.close();
    },
  };
}

let tenantSeq = 0;

/** A fresh tenant and a client with `scopes` in it. */
export async function makeClient(
  t: TestAuth,
  scopes: readonly Scope[],
  tenant = `t${Date.now().toString(36)}${tenantSeq++}`,
): Promise<{ tenant: string; clientId: string; clientSecret: string }> {
  await t.auth.ctx.tenants.ensure(tenant);
  const { record, secret } = await t.auth.ctx.clients.create({ tenant, scopes });
  return { tenant, clientId: record.clientId, clientSecret: secret };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export async function clientToken(t: TestAuth, client: { clientId: string; clientSecret: string }, scope?: string): Promise<string> {
  const res = await t.auth.app.inject({
    method: 'POST',
    url: '/v1/oauth/token',
    headers: { authorization: basic(client.clientId, client.clientSecret) },
    payload: { grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) },
  });
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`);
  return res.json<TokenBody>().access_token;
}

let displaySeq = 0;

export function newDisplayId(): string {
  return `disp-${Date.now().toString(36)}-${displaySeq++}`;
}

export async function registerDisplay(
  t: TestAuth,
  token: string,
  body: { displayId: string; storeId?: string; stations?: string[]; label?: string },
  query = '',
): Promise<{ statusCode: number; json: Record<string, unknown> }> {
  const res = await t.auth.app.inject({
    method: 'POST',
    url: `/v1/displays${query}`,
    headers: { authorization: `Bearer ${token}` },
    payload: { storeId: 'store-1', stations: ['grill', 'bar'], ...body },
  });
  return { statusCode: res.statusCode, json: res.json() };
}

export interface EnrollResult {
  displayId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  refreshExpiresIn: number;
}

export async function enroll(t: TestAuth, code: string): Promise<{ statusCode: number; json: Record<string, unknown> }> {
  const res = await t.auth.app.inject({ method: 'POST', url: '/v1/displays/enroll', payload: { enrollmentCode: code } });
  return { statusCode: res.statusCode, json: res.json() };
}

export async function refresh(t: TestAuth, refreshToken: string): Promise<{ statusCode: number; json: Record<string, unknown> }> {
  const res = await t.auth.app.inject({ method: 'POST', url: '/v1/token/refresh', payload: { refreshToken } });
  return { statusCode: res.statusCode, json: res.json() };
}

/** Register + enroll a display under an operator token. */
export async function enrolledDisplay(t: TestAuth, operatorToken: string, displayId = newDisplayId()): Promise<EnrollResult> {
  const reg = await registerDisplay(t, operatorToken, { displayId });
  if (reg.statusCode !== 201) throw new Error(`register failed: ${JSON.stringify(reg.json)}`);
  const en = await enroll(t, reg.json.enrollmentCode as string);
  if (en.statusCode !== 200) throw new Error(`enroll failed: ${JSON.stringify(en.json)}`);
  return en.json as unknown as EnrollResult;
}

export interface AuditRecord {
  event: string;
  tenant: string;
  reason?: string;
  displayId?: string;
  familyId?: string;
  clientId?: string;
  [k: string]: unknown;
}

/** Every event in the AUDIT stream on `audit.<tenant>.>` (read with an ephemeral ordered consumer). */
export async function readAudit(nc: NatsConnection, tenant: string): Promise<AuditRecord[]> {
  const consumer = await jetstream(nc).consumers.get(STREAMS.AUDIT, { filter_subjects: [`audit.${tenant}.>`] });
  const expected = (await consumer.info()).num_pending;
  const out: AuditRecord[] = [];
  if (expected === 0) return out;
  const iter = await consumer.fetch({ max_messages: expected, expires: 2_000 });
  for await (const m of iter) {
    out.push(m.json<AuditRecord>());
    if (out.length >= expected) break;
  }
  return out;
}

/** Decodes a JWT payload without verifying it (tests inspect claims). */
export function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function decodeHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
