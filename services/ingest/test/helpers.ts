/**
 * Test fixtures: client tokens from the test harness's JWKS endpoint (signed like the auth
 * service signs them), and the ingest app built on real NATS / Redis from the test harness.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { API_AUDIENCE, parseOrderSubject, type Scope } from '@orderwire/contracts';
import {
  createHealth,
  createLogger,
  createMetrics,
  createRevocationWatcher,
  ensureTopology,
  KV_BUCKETS,
  STREAMS,
  listOrderStreams,
  orderStreamFor,
  type Metrics,
  type TopologyOptions,
} from '@orderwire/platform';
import { startJwks as startHarnessJwks } from '@orderwire/test-harness';
import { createTokenVerifier } from '@orderwire/token-verifier';
import { Redis } from 'ioredis';
import { createApp, type IngestApp } from '../src/app.js';
import { loadIngestConfig } from '../src/config.js';
import { rateLimitRedisOptions } from '../src/redis-client.js';

export const ISSUER = 'orderwire-auth-test';

export interface ClientClaims {
  tenant: string;
  clientId?: string;
  scopes: readonly Scope[];
  /** Lifetime in seconds from now; negative for an expired token. @default 600 */
  ttlSec?: number;
}

export interface Jwks {
  url: string;
  sign(claims: ClientClaims): Promise<string>;
  close(): Promise<void>;
}

/** The harness's JWKS endpoint, signing client tokens like the auth service. */
export async function startJwks(): Promise<Jwks> {
  const jwks = await startHarnessJwks();
  return {
    url: jwks.url,
    sign: (c) => {
      const now = Math.floor(Date.now() / 1000);
      return jwks.sign({
        typ: 'client',
        tid: c.tenant,
        scope: c.scopes.join(' '),
        jti: randomUUID(),
        iss: ISSUER,
        aud: API_AUDIENCE,
        sub: c.clientId ?? 'pos-1',
        iat: now,
        exp: now + (c.ttlSec ?? 600),
      });
    },
    close: () => jwks.dispose(),
  };
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
  /** What the topology owner applies first (e.g. replicas 3 on a cluster). @default the defaults */
  topology?: TopologyOptions;
}): Promise<TestApp> {
  const config = loadIngestConfig({ AUTH_JWKS_URL: opts.jwksUrl, AUTH_ISSUER: ISSUER, ...opts.env });
  const logger = createLogger({ service: 'ingest', version: 'test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent' });
  const nc = await connect({ servers: opts.natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  // The owner's job (ingest itself only verifies at start).
  await ensureTopology(nc, {
    ...opts.topology,
    streams: [STREAMS.ORDERS, STREAMS.RECEIPTS, STREAMS.AUDIT],
    buckets: [KV_BUCKETS.DISPLAYS, KV_BUCKETS.TENANTS, KV_BUCKETS.REVOKED_CLIENTS, KV_BUCKETS.WEBHOOKS, KV_BUCKETS.WEBHOOK_DELIVERIES],
  });
  const redis =
    opts.redisUrl === undefined
      ? undefined
      : // The service's own options (autopipelining included); reconnects quicker for the fault tests.
        new Redis(opts.redisUrl, { ...rateLimitRedisOptions(config), retryStrategy: () => 100 });
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
    // Orders of every partition stream.
    ordersCount: async () => {
      let n = 0;
      for (const name of await listOrderStreams(jsm)) n += (await jsm.streams.info(name)).state.messages;
      return n;
    },
    lastOnSubject: async (subject) => {
      const p = parseOrderSubject(subject);
      const stream = p === undefined ? undefined : await orderStreamFor(jsm, p.tenant, p.store);
      if (stream === undefined) throw new Error(`no order stream for ${subject}`);
      return jsm.streams.getMessage(stream, { last_by_subj: subject });
    },
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
