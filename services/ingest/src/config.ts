/**
 * The only file of the ingest service that reads `process.env`. Everything is validated once
 * at start; a bad variable stops the process with a message naming it.
 */
import {
  auditAggregateConfig,
  authClientConfig,
  authFailureGateConfig,
  httpConfig,
  listenConfig,
  loadConfig,
  logConfig,
  natsConfig,
  redisConfig,
  shutdownConfig,
  webhookTargetConfig,
  type Config,
} from '@orderwire/platform';

/** The port of the external contract (docs/api.md). */
export const DEFAULT_PORT = 3002;
/** Webhook endpoints per tenant: each costs the dispatcher a breaker and a share of its attempts. */
export const DEFAULT_WEBHOOKS_MAX_ENDPOINTS = 20;
/** A rotated-out webhook secret signs for a day, time for the receiver to deploy the new one. */
export const DEFAULT_WEBHOOKS_SECRET_GRACE = '24h';
/** A PubAck takes well under 1 ms here; anything this slow is an outage. */
export const DEFAULT_PUBLISH_TIMEOUT = '2s';
/**
 * Retries of a publish during a JetStream leader election or reconnect. Measured in
 * test/replicas.test.ts: killing the ORDERS leader of a 3-node cluster leaves the stream without a
 * leader for up to ~8.5 s on a loaded 2-core box (12 runs); a request takes at most this plus the
 * publish timeout (14 s), well under the 30 s of typical HTTP clients.
 */
export const DEFAULT_PUBLISH_RETRY_WINDOW = '12s';
/** The ORDERS stream's max message size, so a body that fits is publishable. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;
/** A batch of up to ORDER_BATCH_MAX typical orders. */
export const DEFAULT_BATCH_BODY_LIMIT = 2 * 1024 * 1024;
/** 50 % failed publishes in the window open the breaker. */
export const DEFAULT_BREAKER_ERROR_THRESHOLD = 50;
/** 5 publishes in the window before the breaker may open. */
export const DEFAULT_BREAKER_VOLUME_THRESHOLD = 5;
/** 5 s open before a trial publish (half-open). */
export const DEFAULT_BREAKER_RESET_TIMEOUT = '5s';
/** 10 s rolling window of the breaker's statistics. */
export const DEFAULT_BREAKER_WINDOW = '10s';
/** `Retry-After` when NATS is disconnected or a publish timed out. */
export const DEFAULT_RETRY_AFTER = '2s';
/** 6000 requests per tenant per window (100/s sustained). */
export const DEFAULT_RATE_LIMIT_MAX = 6000;
/** The rate limit's window: `DEFAULT_RATE_LIMIT_MAX` requests per tenant per window. */
export const DEFAULT_RATE_LIMIT_WINDOW = '1m';
/** A slow Redis must not slow order intake; past this the local limiter decides. */
export const DEFAULT_RATE_LIMIT_REDIS_TIMEOUT = '250ms';
/** 30000 order publishes per tenant per minute (500/s; a targeted order costs one per display). */
export const DEFAULT_TENANT_ORDERS_PER_MINUTE = 30_000;
/** 1 s bound on each attempt to write an acceptance record, and on receipt reads. */
export const DEFAULT_RECEIPT_TIMEOUT = '1s';
/** 30 s for the first full read of the display registry at start. */
export const DEFAULT_REGISTRY_SYNC_TIMEOUT = '30s';

const authClient = authClientConfig({ issuer: '`iss` of every token', jwksUrl: 'JWKS of the auth service' });

export const CONFIG_SPEC = {
  ...listenConfig(DEFAULT_PORT),
  ...natsConfig(),
  ...redisConfig('Redis (rate-limit counters only)'),
  ...logConfig('instance name in logs and metrics'),
  authIssuer: authClient.issuer,
  authJwksUrl: authClient.jwksUrl,
  ...shutdownConfig('shutdown deadline'),
  ...httpConfig(),
  nodeEnv: { env: 'NODE_ENV', type: 'string', required: false, doc: '`production` turns /docs off unless INGEST_DOCS=true' },
  publishTimeoutMs: {
    env: 'INGEST_PUBLISH_TIMEOUT',
    type: 'duration',
    default: DEFAULT_PUBLISH_TIMEOUT,
    min: '50ms',
    max: '30s',
    doc: 'wait for a PubAck before answering 503',
  },
  publishRetryWindowMs: {
    env: 'INGEST_PUBLISH_RETRY_WINDOW',
    type: 'duration',
    default: DEFAULT_PUBLISH_RETRY_WINDOW,
    min: '0ms',
    max: '20s',
    doc: 'retry a publish failed by a leader election, timeout or reconnect (same msg id) for this long before answering 503',
  },
  bodyLimit: { env: 'INGEST_BODY_LIMIT', type: 'int', default: DEFAULT_BODY_LIMIT, min: 1024, doc: 'max bytes of POST /v1/orders' },
  batchBodyLimit: {
    env: 'INGEST_BATCH_BODY_LIMIT',
    type: 'int',
    default: DEFAULT_BATCH_BODY_LIMIT,
    min: 1024,
    doc: 'max bytes of POST /v1/orders/batch',
  },
  breakerErrorThreshold: {
    env: 'INGEST_BREAKER_ERROR_THRESHOLD',
    type: 'int',
    default: DEFAULT_BREAKER_ERROR_THRESHOLD,
    min: 1,
    max: 100,
    doc: 'percent of failed publishes that opens the breaker',
  },
  breakerVolumeThreshold: {
    env: 'INGEST_BREAKER_VOLUME_THRESHOLD',
    type: 'int',
    default: DEFAULT_BREAKER_VOLUME_THRESHOLD,
    min: 1,
    doc: 'publishes in the window before the breaker may open',
  },
  breakerResetTimeoutMs: {
    env: 'INGEST_BREAKER_RESET_TIMEOUT',
    type: 'duration',
    default: DEFAULT_BREAKER_RESET_TIMEOUT,
    min: '100ms',
    doc: 'time open before one trial publish',
  },
  breakerWindowMs: {
    env: 'INGEST_BREAKER_WINDOW',
    type: 'duration',
    default: DEFAULT_BREAKER_WINDOW,
    min: '1s',
    doc: 'rolling statistics window of the breaker',
  },
  retryAfterMs: {
    env: 'INGEST_RETRY_AFTER',
    type: 'duration',
    default: DEFAULT_RETRY_AFTER,
    min: '1s',
    doc: 'Retry-After of 503s not caused by the open breaker',
  },
  rateLimitMax: {
    env: 'INGEST_RATE_LIMIT_MAX',
    type: 'int',
    default: DEFAULT_RATE_LIMIT_MAX,
    min: 1,
    doc: 'requests per tenant per window (writes and reads counted separately)',
  },
  rateLimitWindowMs: { env: 'INGEST_RATE_LIMIT_WINDOW', type: 'duration', default: DEFAULT_RATE_LIMIT_WINDOW, min: '1s' },
  rateLimitRedisTimeoutMs: {
    env: 'INGEST_RATE_LIMIT_REDIS_TIMEOUT',
    type: 'duration',
    default: DEFAULT_RATE_LIMIT_REDIS_TIMEOUT,
    min: '10ms',
    doc: 'Redis command timeout of the rate limiter',
  },
  receiptTimeoutMs: {
    env: 'INGEST_RECEIPT_TIMEOUT',
    type: 'duration',
    default: DEFAULT_RECEIPT_TIMEOUT,
    min: '50ms',
    doc: 'bound on each attempt to write an acceptance record, and on receipt reads',
  },
  registrySyncTimeoutMs: {
    env: 'INGEST_REGISTRY_SYNC_TIMEOUT',
    type: 'duration',
    default: DEFAULT_REGISTRY_SYNC_TIMEOUT,
    min: '1s',
    doc: 'first read of the display registry at start',
  },
  docsEnabled: {
    env: 'INGEST_DOCS',
    type: 'bool',
    required: false,
    doc: 'serve OpenAPI and Swagger UI at /docs (unset: on, except with NODE_ENV=production)',
  },
  tenantOrdersPerMinute: {
    env: 'INGEST_TENANT_ORDERS_PER_MINUTE',
    type: 'int',
    default: DEFAULT_TENANT_ORDERS_PER_MINUTE,
    min: 1,
    doc: 'order publishes per tenant per minute (one per target display), unless the tenant record sets quotas.ordersPerMinute',
  },
  ...authFailureGateConfig(),
  ...auditAggregateConfig(),
  ...webhookTargetConfig(),
  webhooksMaxEndpoints: {
    env: 'WEBHOOKS_MAX_ENDPOINTS',
    type: 'int',
    default: DEFAULT_WEBHOOKS_MAX_ENDPOINTS,
    min: 1,
    max: 1000,
    doc: 'webhook endpoints per tenant (POST /v1/webhooks answers 409 beyond it)',
  },
  webhooksSecretGraceMs: {
    env: 'WEBHOOKS_SECRET_GRACE',
    type: 'duration',
    default: DEFAULT_WEBHOOKS_SECRET_GRACE,
    min: 0,
    max: '30d',
    doc: 'how long a rotated-out webhook secret keeps signing next to the new one',
  },
} as const;

export type IngestConfig = Omit<Config<typeof CONFIG_SPEC>, 'docsEnabled'> & { readonly docsEnabled: boolean };

export function loadIngestConfig(env: Readonly<Record<string, string | undefined>> = process.env): IngestConfig {
  const c = loadConfig(CONFIG_SPEC, env);
  // The docs page is a map of the API for whoever finds it: off in production unless asked for.
  return Object.freeze({ ...c, docsEnabled: c.docsEnabled ?? c.nodeEnv !== 'production' });
}
