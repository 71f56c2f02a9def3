/**
 * Test fixtures: a real JWKS server with a signing key (tokens are signed like the auth service
 * signs them), and the ingest app built on real NATS / Redis from the test harness.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { API_AUDIENCE, type Scope } from '@orderwire/contracts';
import {
  createHealth,
  createLogger,
  createMetrics,
  createRevocationWatcher,
  ensureTopology,
  KV_BUCKETS,
  STREAMS,
  type Metrics,
} from '@orderwire/platform';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createApp, type IngestApp } from '../src/app.js';
import { loadIngestConfig } from '../src/config.js';

export const ISSUER = 'orderwire-auth-test';

export interface Jwks {
  url: string;
  sign(claims: { tenant: string; clientId?: string; scopes: readonly Scope[]; expiresIn?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startJwks(): Promise<Jwks> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `test-${randomUUID()}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    sign: (c) => signWith(privateKey, kid, c),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function signWith(
  key: CryptoKey,
  kid: string,
  c: { tenant: string; clientId?: string; scopes: readonly Scope[]; expiresIn?: string },
): Promise<string> {
  return new SignJWT({ typ: 'client', tid: c.tenant, scope: c.scopes.join(' '), jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(ISSUER)
    .setAudience(API_AUDIENCE)
    .setSubject(c.clientId ?? 'pos-1')
    .setIssuedAt()
    .setExpirationTime(c.expiresIn ?? '10m')
    .sign(key);
}

export interface TestApp extends IngestApp {
  nc: NatsConnection;
  redis: Redis | undefined;
  metricsRegistry: Metrics;
  dispose(): Promise<void>;
}

/** Builds the app against real servers. `env` overrides config variables (INGEST_*). */
export async function buildTestApp(opts: {
  natsUrl: string;
  redisUrl?: string;
  jwksUrl: string;
  env?: Record<string, string>;
}): Promise<TestApp> {
  const config = loadIngestConfig({ AUTH_JWKS_URL: opts.jwksUrl, AUTH_ISSUER: ISSUER, ...opts.env });
  const logger = createLogger({ service: 'ingest', version: 'test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent' });
  const nc = await connect({ servers: opts.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  await ensureTopology(nc, {
    streams: [STREAMS.ORDERS, STREAMS.RECEIPTS, STREAMS.AUDIT],
    buckets: [KV_BUCKETS.DISPLAYS, KV_BUCKETS.TENANTS, KV_BUCKETS.REVOKED_CLIENTS],
  });
  const redis =
    opts.redisUrl === undefined
      ? undefined
      : new Redis(opts.redisUrl, {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: config.rateLimitRedisTimeoutMs,
          retryStrategy: () => 100,
        });
  redis?.on('error', () => undefined);
  if (redis !== undefined) await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  const metrics = createMetrics({ service: 'ingest', defaultMetrics: false });
  const health = createHealth();
  const revocations = await createRevocationWatcher({ nc, logger, metrics });
  await revocations.synced(5_000);
  const verifier = createTokenVerifier({ jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: API_AUDIENCE, revocations });
  const ingest = await createApp({ config, logger, metrics, health, nc, redis, verifier, revocations, instance: 'ingest-test', version: 'test' });
  health.markStarted();
  return {
    ...ingest,
    nc,
    redis,
    metricsRegistry: metrics,
    async dispose() {
      await ingest.close();
      await revocations.stop();
      redis?.disconnect();
      await nc.close();
    },
  };
}

/** A plain client for looking at the streams the way another service would. */
export async function inspector(natsUrl: string): Promise<{
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  ordersCount(): Promise<number>;
  lastOnSubject(subject: string): Promise<StoredMsg | null>;
  close(): Promise<void>;
}> {
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  return {
    nc,
    js,
    jsm,
    ordersCount: async () => (await jsm.streams.info(STREAMS.ORDERS)).state.messages,
    lastOnSubject: (subject) => jsm.streams.getMessage(STREAMS.ORDERS, { last_by_subj: subject }),
    close: () => nc.close(),
  };
}

let counter = 0;
/** A valid order with a unique id. */
export function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return {
    orderId: `ord-${Date.now()}-${counter}`,
    storeId: 'store-1',
    station: 'grill',
    items: [{ name: 'Burger', qty: 2, modifiers: ['no onions'] }],
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
