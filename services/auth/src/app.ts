/**
 * Builds the auth service from its connections: stores, keyring, token issuer, audit, rate
 * limits, routes, and the rotation loop. `main.ts` and the tests both call `createApp`.
 */
import { randomUUID } from 'node:crypto';
import formbody from '@fastify/formbody';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import {
  createAuditAggregator,
  createHealth,
  createMuxedConnection,
  createHttpServer,
  httpServerOptions,
  createMetrics,
  natsHealthCheck,
  type Health,
  type Logger,
  type Metrics,
  type MuxedConnection,
} from '@orderwire/platform';
import { createAuditLog } from './audit.js';
import { createDisplayCounts, DISPLAY_COUNTS_SYNC_TIMEOUT_MS, type DisplayCounts } from './display-counts.js';
import type { AuthConfig } from './config.js';
import type { AuthContext } from './context.js';
import { createKekRing } from './crypto/kek.js';
import { createDummyHash } from './crypto/secrets.js';
import { createKeyManager } from './keys/key-manager.js';
import { createLease } from './keys/lease.js';
import { createKeyRotator, ROTATION_LEASE_KEY, type KeyRotator } from './keys/rotator.js';
import { openAuthBuckets } from './kv.js';
import { createAuthMetrics } from './metrics.js';
import { createPresenceReader } from './presence.js';
import { registerRateLimiter } from './rate-limit.js';
import { createRevocationAnnouncer } from './revocation.js';
import { displayRoutes } from './routes/display-routes.js';
import { jwksRoutes } from './routes/jwks.js';
import { oauthRoutes } from './routes/oauth.js';
import { tokenRoutes } from './routes/tokens.js';
import { createClientStore } from './stores/clients.js';
import { createDisplayStore } from './stores/display-store.js';
import { createEnrollmentStore } from './stores/enrollments.js';
import { createRefreshFamilyStore } from './stores/refresh-families.js';
import { createTenantStore } from './stores/tenants.js';
import { createTokenIssuer } from './tokens/access-tokens.js';

export interface AppDeps {
  config: AuthConfig;
  logger: Logger;
  /** Connected; the topology verified (`verifyTopology`: `topology apply` created it). */
  nc: NatsConnection;
  redis: Redis;
  metrics?: Metrics;
  health?: Health;
  /** Run the scheduled key-rotation loop. @default true */
  rotation?: boolean;
}

export interface AuthApp {
  app: FastifyInstance;
  ctx: AuthContext;
  rotator: KeyRotator;
  metrics: Metrics;
  health: Health;
  /** Stops rotation (releasing the lease), the keyring watcher, and the HTTP server. */
  close(): Promise<void>;
}

export async function createApp(deps: AppDeps): Promise<AuthApp> {
  const { logger, nc } = deps;
  const metrics = deps.metrics ?? createMetrics({ service: 'auth' });
  const health = deps.health ?? createHealth();
  const authMetrics = createAuthMetrics(metrics);
  // KV and JetStream API requests (about twenty per display registered and enrolled) over one
  // reply inbox: the library's request() builds stack-capturing errors and a timer for each.
  const muxed = createMuxedConnection(nc, { logger });
  try {
    return await build(deps, { metrics, health, authMetrics, muxed });
  } catch (err) {
    muxed.close();
    throw err;
  }
}

async function build(
  deps: AppDeps,
  parts: Pick<Parts, 'metrics' | 'health' | 'authMetrics' | 'muxed'>,
): Promise<AuthApp> {
  const { config, logger, nc } = deps;
  const { metrics, health, authMetrics, muxed } = parts;
  // The managers get the muxed connection; anything keyed by the connection itself (health,
  // watches, plain publishes) keeps the real one.
  const buckets = await openAuthBuckets(muxed.nc);
  const js = jetstream(muxed.nc);
  const jsm = await jetstreamManager(muxed.nc);
  const audit = createAuditLog({ js, instance: config.instanceId, logger, metrics: authMetrics });

  const keys = createKeyManager({
    kv: buckets.signingKeys,
    jsm,
    kek: createKekRing(config.kek, config.kekPrevious),
    logger,
    onIntegrity: (failures) => {
      authMetrics.keyringIntegrityOk.set(failures.length === 0 ? 1 : 0);
      for (const f of failures) authMetrics.keyringIntegrityFailures.inc({ problem: f.problem });
    },
    onRotated: (ring, reason) => {
      authMetrics.keyRotations.inc();
      void audit.record('key_rotated', {
        actor: { type: 'system', id: config.instanceId },
        kid: ring.current.kid,
        reason,
        details: { generation: ring.generation, next: ring.next.kid, previous: ring.previous?.kid },
      });
    },
  });
  await keys.start();
  let displayCounts: DisplayCounts | undefined;
  try {
    displayCounts = await createDisplayCounts({ nc, logger });
    await displayCounts.synced(DISPLAY_COUNTS_SYNC_TIMEOUT_MS);
    return await assemble(deps, { metrics, health, authMetrics, muxed, buckets, jsm, audit, keys, displayCounts });
  } catch (err) {
    keys.stop();
    await displayCounts?.stop();
    throw err;
  }
}

interface Parts {
  metrics: Metrics;
  health: Health;
  authMetrics: ReturnType<typeof createAuthMetrics>;
  muxed: MuxedConnection;
  buckets: Awaited<ReturnType<typeof openAuthBuckets>>;
  jsm: Awaited<ReturnType<typeof jetstreamManager>>;
  audit: ReturnType<typeof createAuditLog>;
  keys: ReturnType<typeof createKeyManager>;
  displayCounts: DisplayCounts;
}

async function assemble(deps: AppDeps, parts: Parts): Promise<AuthApp> {
  const { config, logger, nc, redis } = deps;
  const { metrics, health, authMetrics, muxed, buckets, jsm, audit, keys, displayCounts } = parts;
  const failures = createAuditAggregator({
    js: jetstream(muxed.nc),
    service: 'auth',
    instance: config.instanceId,
    logger,
    metrics,
    windowMs: config.audit.windowMs,
    maxKeys: config.audit.maxKeys,
  });
  const ctx: AuthContext = {
    config,
    logger,
    metrics: authMetrics,
    audit,
    failures,
    displayCounts,
    revokedClients: buckets.revokedClients,
    revocations: createRevocationAnnouncer(nc, logger),
    keys,
    tokens: createTokenIssuer({
      keys,
      issuer: config.issuer,
      displayTtlMs: config.displayTokenTtlMs,
      clientTtlMs: config.clientTokenTtlMs,
    }),
    tenants: createTenantStore(buckets.tenants),
    clients: createClientStore(buckets.clients, config.scryptLogN),
    displays: createDisplayStore(buckets.displays),
    enrollments: createEnrollmentStore(buckets.enrollments),
    families: createRefreshFamilyStore(buckets.refreshTokens, jsm),
    jsm,
    dummySecretHash: await createDummyHash(config.scryptLogN),
  };

  const rotator = createKeyRotator({
    keys,
    // Unique per app instance, even when two share an INSTANCE_ID (tests, misconfiguration).
    lease: createLease({ kv: buckets.leases, name: ROTATION_LEASE_KEY, holder: `${config.instanceId}/${randomUUID()}`, ttlMs: config.leaseTtlMs }),
    leaseTtlMs: config.leaseTtlMs,
    intervalMs: config.keyRotationIntervalMs,
    checkMs: config.keyRotationCheckMs,
    logger,
  });

  health.register('nats', natsHealthCheck(nc));
  health.register('signing_keys', async () =>
    keys.healthy() ? { ok: true, detail: `kid ${keys.signer().kid}` } : { ok: false, detail: 'keyring not loaded or not decryptable' },
  );
  // Redis only holds rate-limit counters; without it the limiter falls back to local memory.
  health.register('redis', async () => ({ ok: redis.status === 'ready', detail: redis.status }), { critical: false });

  // AUTH_TRUST_PROXY is the older spelling of TRUSTED_PROXIES; `true` meant "one proxy in front".
  const legacyProxies = config.trustProxy === true ? '1' : config.trustProxy === false ? undefined : config.trustProxy;
  const app = createHttpServer({
    logger,
    health,
    metrics,
    bodyLimit: config.bodyLimit,
    ...httpServerOptions(config, { env: 'AUTH_TRUST_PROXY', value: legacyProxies }),
  });
  await app.register(formbody);
  const limiter = await registerRateLimiter(app, { redis, logger, metrics: authMetrics });
  oauthRoutes(app, ctx, limiter);
  displayRoutes(app, ctx, limiter, createPresenceReader({ redis, jsm, logger }));
  tokenRoutes(app, ctx, limiter);
  jwksRoutes(app, ctx);

  if (deps.rotation ?? true) rotator.start();
  failures.start();

  let closed: Promise<void> | undefined;
  return {
    app,
    ctx,
    rotator,
    metrics,
    health,
    close() {
      closed ??= (async () => {
        await rotator.stop();
        keys.stop();
        await app.close();
        // After the server: failures of the last requests are in the final window.
        await failures.stop();
        await displayCounts.stop();
        muxed.close();
      })();
      return closed;
    },
  };
}
