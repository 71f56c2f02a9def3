/**
 * Builds the ingest service from its dependencies (tests call this with real NATS and Redis):
 * display-registry watch, publisher with breaker, receipts, per-tenant rate limit, OpenAPI and
 * the routes on the platform's Fastify base.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { millis } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import {
  addressPolicyOf,
  createAuditAggregator,
  createAuthGuard,
  createHttpServer,
  createKvMirror,
  httpServerOptions,
  KV_BUCKETS,
  natsHealthCheck,
  listOrderStreams,
  type AuditAggregator,
  type Health,
  type HttpConfigValues,
  type KvMirror,
  type Logger,
  type Metrics,
  type NatsConnection,
  type RevocationWatcher,
} from '@orderwire/platform';
import { bearerAuth, type TokenVerifier } from '@orderwire/token-verifier';
import type { DisplayRecord } from '@orderwire/contracts';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { IngestConfig } from './config.js';
import { createDisplayIndex, parseDisplayRecord, type DisplayIndex } from './display-index.js';
import { createIntake } from './intake.js';
import { createJsPublisher, type JsPublisher } from './jetstream-publish.js';
import { createIngestMetrics, type IngestMetrics } from './metrics.js';
import { trackConnection, type ConnectionState } from './nats-connection-state.js';
import { createOrderPublisher, type OrderPublisher } from './order-publisher.js';
import { createOrderQuota } from './order-quota.js';
import { createRateLimitStore } from './rate-limit-store.js';
import { createReceiptStore } from './receipt-store.js';
import type { RouteDeps } from './routes/common.js';
import { registerOrderStatusRoute } from './routes/order-status.js';
import { registerOrderRoute } from './routes/orders.js';
import { registerOrderBatchRoute } from './routes/orders-batch.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { createWebhookStore } from './webhook-store.js';

/** Redis keys of the rate limiter. */
export const RATE_LIMIT_KEY_PREFIX = 'ow:rl:ingest:';
export const DOCS_PREFIX = '/docs';

export type AppConfig = Pick<
  IngestConfig,
  | 'publishTimeoutMs'
  | 'publishRetryWindowMs'
  | 'bodyLimit'
  | 'batchBodyLimit'
  | 'breakerErrorThreshold'
  | 'breakerVolumeThreshold'
  | 'breakerResetTimeoutMs'
  | 'breakerWindowMs'
  | 'retryAfterMs'
  | 'rateLimitMax'
  | 'rateLimitWindowMs'
  | 'receiptTimeoutMs'
  | 'registrySyncTimeoutMs'
  | 'docsEnabled'
  | 'tenantOrdersPerMinute'
  | 'authFailureMax'
  | 'authFailureWindowMs'
  | 'auditWindowMs'
  | 'auditMaxKeys'
  | 'webhooksAllowHttp'
  | 'webhooksAllowedCidrs'
  | 'webhooksMaxEndpoints'
  | 'webhooksSecretGraceMs'
> &
  Partial<HttpConfigValues>;

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  nc: NatsConnection;
  /** Rate-limit counters; undefined counts per process only. */
  redis: Redis | undefined;
  verifier: Pick<TokenVerifier, 'verifyClientToken'>;
  /** The revoked-clients watch the verifier consults (readiness detail); main.ts owns it. */
  revocations?: RevocationWatcher;
  /** INSTANCE_ID, recorded in audit events. */
  instance?: string;
  /** Service version for the OpenAPI document. */
  version: string;
}

export interface IngestApp {
  app: FastifyInstance;
  index: DisplayIndex;
  registry: KvMirror<DisplayRecord>;
  publisher: OrderPublisher;
  metrics: IngestMetrics;
  /** Aggregated audit of refused authentications (`auth_failures`). */
  failures: AuditAggregator;
  /** Closes the HTTP server and stops the watch and breaker (not NATS/Redis: the caller owns them). */
  close(): Promise<void>;
}

export async function createApp(deps: AppDeps): Promise<IngestApp> {
  const { config, logger, nc } = deps;
  const metrics = createIngestMetrics(deps.metrics);
  const connection = trackConnection(nc, logger);
  // Separate managers: their timeout bounds every API call made through them.
  const verifyJsm = await jetstreamManager(nc, { timeout: config.publishTimeoutMs });
  const readJsm = await jetstreamManager(nc, { timeout: config.receiptTimeoutMs });

  // Every order partition stream: an order lands in its store's, so the smallest limit and the
  // shortest duplicate window are the ones that hold for every order.
  const orderStreams = await listOrderStreams(verifyJsm);
  const infos = await Promise.all(orderStreams.map((name) => verifyJsm.streams.info(name)));
  const serverMax = nc.info?.max_payload ?? Number.MAX_SAFE_INTEGER;
  const streamMax = Math.min(...infos.map((i) => (i.config.max_msg_size > 0 ? i.config.max_msg_size : Number.MAX_SAFE_INTEGER)));
  const maxMessageBytes = Math.min(serverMax, streamMax);
  const windows = infos.map((i) => millis(i.config.duplicate_window));
  logger.info(
    { maxMessageBytes, duplicateWindowMs: Math.min(...windows), orderStreams },
    'order streams: idempotency window is their duplicate_window',
  );
  if (new Set(windows).size > 1) logger.warn({ windows: Object.fromEntries(orderStreams.map((n, i) => [n, windows[i]])) }, 'order streams differ in duplicate_window; run topology apply');

  const index = createDisplayIndex();
  // The index answers "which displays does this station have"; the mirror keeps it current.
  const registry = await createKvMirror<DisplayRecord>({
    nc,
    bucket: KV_BUCKETS.DISPLAYS,
    logger,
    parse: (_key, value) => parseDisplayRecord(value),
    onChange: (key, record) => {
      index.apply(key, record);
      metrics.registryDisplays.set(index.size());
    },
  });
  // Every publish (orders, acceptance records) goes through one reply inbox: see jetstream-publish.ts.
  const js = createJsPublisher(nc, logger);
  try {
    await registry.synced(config.registrySyncTimeoutMs);
    return await assemble(deps, { metrics, connection, js, verifyJsm, readJsm, maxMessageBytes, index, registry });
  } catch (err) {
    // Nothing may keep running (or keep the process alive) after a failed start.
    await registry.stop();
    js.close();
    connection.stop();
    throw err;
  }
}

interface Parts {
  metrics: IngestMetrics;
  connection: ConnectionState;
  js: JsPublisher;
  verifyJsm: JetStreamManager;
  readJsm: JetStreamManager;
  maxMessageBytes: number;
  index: DisplayIndex;
  registry: KvMirror<DisplayRecord>;
}

async function assemble(deps: AppDeps, parts: Parts): Promise<IngestApp> {
  const { config, logger, nc, health } = deps;
  const { metrics, connection, js, verifyJsm, readJsm, maxMessageBytes, index, registry } = parts;

  const publisher = createOrderPublisher({
    js,
    connection,
    breaker: {
      timeoutMs: config.publishTimeoutMs,
      errorThresholdPercentage: config.breakerErrorThreshold,
      volumeThreshold: config.breakerVolumeThreshold,
      resetTimeoutMs: config.breakerResetTimeoutMs,
      windowMs: config.breakerWindowMs,
    },
    retryWindowMs: config.publishRetryWindowMs,
    retryAfterMs: config.retryAfterMs,
    metrics,
    logger,
  });
  const receipts = createReceiptStore({
    publisher,
    jsm: readJsm,
    connection,
    timeoutMs: config.receiptTimeoutMs,
    retryAfterMs: config.retryAfterMs,
    metrics,
  });
  const intake = createIntake({
    publisher,
    jsm: verifyJsm,
    receipts,
    index,
    metrics,
    maxMessageBytes,
    retryAfterMs: config.retryAfterMs,
  });

  const app = createHttpServer({ logger, health, metrics: deps.metrics, ...httpServerOptions(config) });
  const limiter = createRateLimitStore({ redis: deps.redis, keyPrefix: RATE_LIMIT_KEY_PREFIX, logger, metrics });
  await app.register(rateLimit, { global: false, store: limiter.Store });
  const quota = await createOrderQuota({
    nc,
    limiter: limiter.limiter,
    defaultPerMinute: config.tenantOrdersPerMinute,
    metrics,
    logger,
  });
  const failures = createAuditAggregator({
    js: jetstream(nc),
    service: 'ingest',
    instance: deps.instance ?? 'ingest',
    logger,
    metrics: deps.metrics,
    windowMs: config.auditWindowMs,
    maxKeys: config.auditMaxKeys,
  });
  failures.start();
  metrics.rateLimited.inc({ service: 'ingest', route: 'auth_failures' }, 0);
  const guard = createAuthGuard({
    max: config.authFailureMax,
    windowMs: config.authFailureWindowMs,
    audit: failures,
    onLimited: () => metrics.rateLimited.inc({ service: 'ingest', route: 'auth_failures' }),
  });
  const onReject = (err: { code: string; status: number }, request: Parameters<typeof guard.refused>[0]): void =>
    guard.refused(request, { code: err.code, status: err.status });

  if (config.docsEnabled) {
    await app.register(swagger, {
      hideUntagged: true,
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Orderwire ingest API',
          version: deps.version,
          description: 'Order intake for upstream systems. Human guide: docs/api.md.',
        },
        tags: [
          { name: 'orders', description: 'Submit orders and read their delivery status' },
          { name: 'webhooks', description: 'Signed event deliveries to your endpoints (Standard Webhooks v1; docs/webhooks.md)' },
        ],
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'Client-credentials access token from POST /v1/oauth/token (auth service)',
            },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  }

  const routeDeps: RouteDeps = {
    intake,
    publisher,
    receipts,
    metrics,
    auth: {
      write: bearerAuth(deps.verifier, { scopes: ['orders:write'], onReject }),
      read: bearerAuth(deps.verifier, { scopes: ['orders:read'], onReject }),
    },
    gate: guard.gate,
    quota,
    limiter: limiter.limiter,
    rateLimit: { max: config.rateLimitMax, windowMs: config.rateLimitWindowMs },
    bodyLimit: config.bodyLimit,
    batchBodyLimit: config.batchBodyLimit,
  };
  registerOrderRoute(app, routeDeps);
  registerOrderBatchRoute(app, routeDeps);
  registerOrderStatusRoute(app, routeDeps);
  const webhookStore = await createWebhookStore({ nc, retryAfterMs: config.retryAfterMs });
  registerWebhookRoutes(app, routeDeps, {
    store: webhookStore,
    auth: bearerAuth(deps.verifier, { scopes: ['webhooks:manage'], onReject }),
    policy: addressPolicyOf(config),
    allowHttp: config.webhooksAllowHttp,
    maxEndpoints: config.webhooksMaxEndpoints,
    secretGraceMs: config.webhooksSecretGraceMs,
  });

  health.register('nats', natsHealthCheck(nc));
  health.register(
    'display-registry',
    async () =>
      registry.watching() ? { ok: true, detail: `${index.size()} displays` } : { ok: false, detail: 'watch restarting' },
    { critical: false },
  );
  health.register(
    'tenant-quotas',
    async () => (quota.watching() ? { ok: true } : { ok: false, detail: 'tenant watch restarting; last known quotas apply' }),
    { critical: false },
  );
  const revocations = deps.revocations;
  if (revocations !== undefined) {
    health.register(
      'revoked-clients',
      async () =>
        revocations.watching() ? { ok: true, detail: `${revocations.size} revoked` } : { ok: false, detail: 'watch restarting' },
      { critical: false },
    );
  }
  health.register(
    'rate-limit-redis',
    async () => (limiter.degraded() ? { ok: false, detail: 'redis unavailable; counting per process' } : { ok: true }),
    { critical: false },
  );

  try {
    await quota.synced(config.registrySyncTimeoutMs);
    await app.ready();
  } catch (err) {
    publisher.shutdown();
    await quota.stop();
    await failures.stop();
    throw err;
  }

  return {
    app,
    index,
    registry,
    publisher,
    metrics,
    failures,
    async close() {
      await app.close();
      // After the server: refusals of the last requests are in the final window.
      await failures.stop();
      await quota.stop();
      await registry.stop();
      publisher.shutdown();
      js.close();
      connection.stop();
    },
  };
}
