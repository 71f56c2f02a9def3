/**
 * Builds the DLQ service from its dependencies (tests call this with a real NATS): the entry
 * index, the capture consumer on ADVISORIES, the expiry detector on RECEIPTS (orders that aged
 * out unseen, expiry.ts), the operations and the HTTP routes on the platform's Fastify base.
 * Start order: index synced → capture → expiry → routes ready; `close()` stops in reverse.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { DLQ_SUBJECT_PREFIX } from '@orderwire/contracts';
import {
  KV_BUCKETS,
  createAuditAggregator,
  createExpiredNotices,
  createAuthGuard,
  createHttpServer,
  createRateLimiter,
  httpServerOptions,
  limitHook,
  natsHealthCheck,
  trackStreamUsage,
  type AuditAggregator,
  type Health,
  type HttpConfigValues,
  type Logger,
  type Metrics,
  type NatsConnection,
  type RevocationWatcher,
} from '@orderwire/platform';
import { bearerAuth, requirePrincipal, type TokenVerifier } from '@orderwire/token-verifier';
import type { FastifyInstance } from 'fastify';
import { createAuditLog } from './audit.js';
import { createCapture, type Capture } from './capture.js';
import {
  DEFAULT_DLQ_BODY_LIMIT,
  DEFAULT_EXPIRY_BATCH,
  DEFAULT_EXPIRY_CONSUMER,
  DEFAULT_EXPIRY_MAX_PENDING,
  type DlqConfig,
} from './config.js';
import { createEntryIndex, type EntryIndex } from './entry-index.js';
import { createEntryStore } from './entry-store.js';
import { createExpiryDetector, type ExpiryDetector } from './expiry.js';
import { createDlqMetrics, type DlqMetrics } from './metrics.js';
import { DLQ_ERRORS } from './errors.js';
import { createDlqOperations, type DlqOperations } from './operations.js';
import { createReceiptWriter, type ReceiptWriter } from './dead-letter-receipts.js';
import { createResolver } from './resolve.js';
import { registerDlqRoutes } from './routes/dlq.js';

export type AppConfig = Pick<
  DlqConfig,
  | 'natsTimeoutMs'
  | 'captureConsumer'
  | 'captureBatch'
  | 'captureAckWaitMs'
  | 'captureRetryMaxMs'
  | 'replayMax'
  | 'indexSyncTimeoutMs'
  | 'readBarrierTimeoutMs'
  | 'statsIntervalMs'
> &
  Partial<HttpConfigValues> & { readonly bodyLimit?: number };

/** The HTTP API's abuse limits (not used by the CLI). */
export type ApiLimitsConfig = Pick<
  DlqConfig,
  'rateLimitMax' | 'rateLimitWindowMs' | 'authFailureMax' | 'authFailureWindowMs' | 'auditWindowMs' | 'auditMaxKeys'
>;

/** The expiry detector's settings; the defaults of config.ts when not given. */
export type ExpiryConfig = Partial<Pick<DlqConfig, 'expiryConsumer' | 'expiryBatch' | 'expiryMaxPending'>>;

export interface AppDeps {
  config: AppConfig & ApiLimitsConfig & ExpiryConfig;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  nc: NatsConnection;
  verifier: Pick<TokenVerifier, 'verifyClientToken'>;
  /** The revoked-clients watch the verifier consults (readiness detail); main.ts owns it. */
  revocations?: RevocationWatcher;
  /** INSTANCE_ID, recorded in audit events. */
  instance: string;
  /** Start the capture consumer. Tests that drive capture themselves pass false. @default true */
  capture?: boolean;
  /** Start the expiry detector. @default true */
  expiry?: boolean;
}

export interface DlqApp {
  app: FastifyInstance;
  index: EntryIndex;
  capture: Capture;
  expiry: ExpiryDetector;
  ops: DlqOperations;
  metrics: DlqMetrics;
  /** Aggregated audit events: refused authentications (`auth_failures`) and reads (`dlq_reads`). */
  audit: AuditAggregator;
  /** Stops HTTP, capture and the index (not NATS: the caller owns it). */
  close(): Promise<void>;
}

export interface DlqCore {
  index: EntryIndex;
  ops: DlqOperations;
  metrics: DlqMetrics;
  capture: Capture;
  receipts: ReceiptWriter;
}

/** The parts shared by the service and the CLI (which passes a one-tenant index filter). */
export async function createDlqCore(deps: {
  nc: NatsConnection;
  logger: Logger;
  metrics: Metrics;
  instance: string;
  config: AppConfig;
  indexFilter: string;
}): Promise<DlqCore> {
  const { nc, logger, config } = deps;
  const metrics = createDlqMetrics(deps.metrics);
  const js = jetstream(nc, { timeout: config.natsTimeoutMs });
  // The manager's timeout bounds every JetStream API call made through it.
  const jsm = await jetstreamManager(nc, { timeout: config.natsTimeoutMs });
  const store = createEntryStore({ js, jsm, timeoutMs: config.natsTimeoutMs });
  const resolver = createResolver({ nc, jsm });
  const receipts = createReceiptWriter({ js, jsm, timeoutMs: config.natsTimeoutMs, metrics });
  const audit = createAuditLog({ js, instance: deps.instance, timeoutMs: config.natsTimeoutMs, logger, metrics });
  const index = createEntryIndex({
    js,
    jsm,
    logger,
    filter: deps.indexFilter,
    onChange: (i) => metrics.depth.set(i.openCount()),
  });
  const ops = createDlqOperations({
    js,
    store,
    index,
    resolver,
    receipts,
    audit,
    metrics,
    timeoutMs: config.natsTimeoutMs,
    readBarrierTimeoutMs: config.readBarrierTimeoutMs,
  });
  const capture = createCapture({
    js,
    jsm,
    store,
    resolver,
    receipts,
    metrics,
    logger,
    consumer: config.captureConsumer,
    batch: config.captureBatch,
    ackWaitMs: config.captureAckWaitMs,
    retryMaxMs: config.captureRetryMaxMs,
    timeoutMs: config.natsTimeoutMs,
    statsIntervalMs: config.statsIntervalMs,
  });
  return { index, ops, metrics, capture, receipts };
}

/** The expiry detector (the service only; the CLI does not run it). */
async function createExpiry(deps: { nc: NatsConnection; logger: Logger; config: AppConfig & ExpiryConfig }, core: DlqCore): Promise<ExpiryDetector> {
  const { config } = deps;
  const js = jetstream(deps.nc, { timeout: config.natsTimeoutMs });
  const jsm = await jetstreamManager(deps.nc, { timeout: config.natsTimeoutMs });
  const notices = createExpiredNotices(await new Kvm(js).open(KV_BUCKETS.EXPIRED_NOTICES));
  return createExpiryDetector({
    js,
    jsm,
    receipts: core.receipts,
    notices,
    metrics: core.metrics,
    logger: deps.logger,
    consumer: config.expiryConsumer ?? DEFAULT_EXPIRY_CONSUMER,
    batch: config.expiryBatch ?? DEFAULT_EXPIRY_BATCH,
    maxAckPending: config.expiryMaxPending ?? DEFAULT_EXPIRY_MAX_PENDING,
    ackWaitMs: config.captureAckWaitMs,
    retryMaxMs: config.captureRetryMaxMs,
    timeoutMs: config.natsTimeoutMs,
  });
}

export async function createApp(deps: AppDeps): Promise<DlqApp> {
  const { config, logger, nc, health } = deps;
  const core = await createDlqCore({ ...deps, indexFilter: `${DLQ_SUBJECT_PREFIX}.>` });
  const { index, capture, ops, metrics } = core;

  await index.start(config.indexSyncTimeoutMs);
  const runCapture = deps.capture ?? true;
  const runExpiry = deps.expiry ?? true;
  let expiry: ExpiryDetector;
  try {
    expiry = await createExpiry(deps, core);
    if (runCapture) await capture.start();
    if (runExpiry) await expiry.start();
  } catch (err) {
    if (runCapture) await capture.stop();
    await index.stop();
    throw err;
  }

  // Disk use of every stream against its max_bytes (the 80 % alert): exported here, once.
  const usage = await trackStreamUsage(deps.metrics, nc, { logger });

  const app = createHttpServer({
    logger,
    health,
    metrics: deps.metrics,
    bodyLimit: config.bodyLimit ?? DEFAULT_DLQ_BODY_LIMIT,
    ...httpServerOptions(config),
  });
  const audit = createAuditAggregator({
    js: jetstream(nc),
    service: 'dlq',
    instance: deps.instance,
    logger,
    metrics: deps.metrics,
    windowMs: config.auditWindowMs,
    maxKeys: config.auditMaxKeys,
  });
  audit.start();
  for (const route of ['auth_failures', 'read', 'replay']) metrics.rateLimited.inc({ route }, 0);
  const guard = createAuthGuard({
    max: config.authFailureMax,
    windowMs: config.authFailureWindowMs,
    audit,
    onLimited: () => metrics.rateLimited.inc({ route: 'auth_failures' }),
  });
  const onReject = (err: { code: string; status: number }, request: Parameters<typeof guard.refused>[0]): void =>
    guard.refused(request, { code: err.code, status: err.status });
  // No Redis in the DLQ service: counted per process (operators' traffic, one or two replicas).
  const limiter = createRateLimiter({ redis: undefined, keyPrefix: 'ow:rl:dlq:', logger });
  const windowSeconds = Math.ceil(config.rateLimitWindowMs / 1000);
  const tenantLimit = (group: 'read' | 'replay') =>
    limitHook(limiter, {
      name: group,
      max: config.rateLimitMax,
      windowMs: config.rateLimitWindowMs,
      key: (request) => requirePrincipal(request).tenant,
      onLimited: () => metrics.rateLimited.inc({ route: group }),
      error: (after, max) =>
        DLQ_ERRORS.create(
          'ORDERWIRE_ERR_DLQ_RATE_LIMITED',
          { max, window: `${windowSeconds}s`, after: `${after}s` },
          { details: { max, windowSeconds, retryAfterSeconds: after } },
        ),
    });
  registerDlqRoutes(app, {
    ops,
    auth: {
      read: [guard.gate, bearerAuth(deps.verifier, { scopes: ['dlq:read'], onReject }), tenantLimit('read')],
      replay: [guard.gate, bearerAuth(deps.verifier, { scopes: ['dlq:replay'], onReject }), tenantLimit('replay')],
    },
    audit,
    replayMax: config.replayMax,
  });
  const revocations = deps.revocations;
  if (revocations !== undefined) {
    health.register(
      'revoked-clients',
      async () =>
        revocations.watching() ? { ok: true, detail: `${revocations.size} revoked` } : { ok: false, detail: 'watch restarting' },
      { critical: false },
    );
  }

  health.register('nats', natsHealthCheck(nc));
  health.register('dlq-index', async () =>
    index.watching() ? { ok: true, detail: `${index.size()} entries, ${index.openCount()} open` } : { ok: false, detail: 'index watch not running' },
  );
  health.register(
    'advisory-capture',
    async () => {
      if (!runCapture) return { ok: true, detail: 'disabled' };
      const pending = capture.pending();
      return capture.running()
        ? { ok: true, detail: pending === undefined ? 'running' : `running; ${pending} advisories pending` }
        : { ok: false, detail: 'capture stopped' };
    },
    { critical: false },
  );
  health.register(
    'expiry-detector',
    async () => {
      if (!runExpiry) return { ok: true, detail: 'disabled' };
      return expiry.running() ? { ok: true, detail: 'running' } : { ok: false, detail: 'expiry detector stopped' };
    },
    { critical: false },
  );

  await app.ready();

  return {
    app,
    index,
    capture,
    expiry,
    ops,
    metrics,
    audit,
    async close() {
      await app.close();
      usage.stop();
      // After the server: the last requests' reads and refusals are in the final window.
      await audit.stop();
      if (runExpiry) await expiry.stop();
      if (runCapture) await capture.stop();
      await index.stop();
    },
  };
}
