/**
 * The only file of the DLQ service (process and CLI) that reads `process.env`. Everything is
 * validated once at start; a bad variable stops the process with a message naming it.
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
  natsIdentityConfig,
  shutdownConfig,
  type Config,
} from '@orderwire/platform';

/** The port of the external contract (docs/dlq.md). */
export const DEFAULT_PORT = 3004;
/** Bound on every JetStream request and publish the service makes. */
export const DEFAULT_NATS_TIMEOUT = '5s';
/** Durable consumer of the DLQ service on ADVISORIES, shared by its replicas. */
export const DEFAULT_CAPTURE_CONSUMER = 'dlq_capture';
/** 32 advisories pulled per request. */
export const DEFAULT_CAPTURE_BATCH = 32;
/** 30 s before an advisory that is neither acked nor naked is handed out again. */
export const DEFAULT_CAPTURE_ACK_WAIT = '30s';
/** Longest wait before a failed advisory is retried (backoff doubles from 1 s). */
export const DEFAULT_CAPTURE_RETRY_MAX = '30s';
/** 500 entries replayed by one `POST /v1/dlq/replay` / `cli replay --filter`. */
export const DEFAULT_REPLAY_MAX = 500;
/** 30 s for the first full read of the DLQ stream at start. */
export const DEFAULT_INDEX_SYNC_TIMEOUT = '30s';
/** 2 s a list request waits for this replica's index to reach the tenant's latest write. */
export const DEFAULT_READ_BARRIER_TIMEOUT = '2s';
/** 600 API requests per tenant per window (10/s sustained; operators, not machines). */
export const DEFAULT_RATE_LIMIT_MAX = 600;
/** The rate-limit window. */
export const DEFAULT_RATE_LIMIT_WINDOW = '1m';
export const DEFAULT_EXPIRY_CONSUMER = 'dlq_expiry';
/** Acceptance records per pull of the expiry detector. */
export const DEFAULT_EXPIRY_BATCH = 64;
/**
 * Acceptance records held (handed out, waiting to come due) at once, all replicas together: the
 * bound on the detector's memory and the consumer's pending state, whatever the max age.
 */
export const DEFAULT_EXPIRY_MAX_PENDING = 4_096;
/** 5 s between reads of the capture consumer's backlog (metrics, readiness detail). */
export const DEFAULT_STATS_INTERVAL = '5s';

const CONSUMER_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

const { natsUrl } = natsConfig();
const natsIdentity = natsIdentityConfig();
const logging = logConfig('instance name in logs, metrics and audit events');
const authClient = authClientConfig({ issuer: '`iss` of every token', jwksUrl: 'JWKS of the auth service' });
const natsTimeoutMs = {
  env: 'DLQ_NATS_TIMEOUT',
  type: 'duration',
  default: DEFAULT_NATS_TIMEOUT,
  min: '100ms',
  max: '60s',
  doc: 'bound on JetStream requests and publishes',
} as const;
const replayMax = {
  env: 'DLQ_REPLAY_MAX',
  type: 'int',
  default: DEFAULT_REPLAY_MAX,
  min: 1,
  max: 10_000,
  doc: 'most entries one filtered replay touches',
} as const;

/** 16 KiB — the largest DLQ body is a replay filter of a few ids. */
export const DEFAULT_DLQ_BODY_LIMIT = 16 * 1024;

export const CONFIG_SPEC = {
  ...listenConfig(DEFAULT_PORT),
  natsUrl,
  ...natsIdentity,
  ...logging,
  authIssuer: authClient.issuer,
  authJwksUrl: authClient.jwksUrl,
  ...shutdownConfig('shutdown deadline'),
  ...httpConfig(),
  bodyLimit: {
    env: 'DLQ_BODY_LIMIT',
    type: 'int',
    default: DEFAULT_DLQ_BODY_LIMIT,
    min: 1024,
    max: 1024 * 1024,
    doc: 'max bytes of any request body (replay filters are small); larger bodies get 413',
  },
  natsTimeoutMs,
  captureConsumer: {
    env: 'DLQ_CAPTURE_CONSUMER',
    type: 'string',
    default: DEFAULT_CAPTURE_CONSUMER,
    pattern: CONSUMER_NAME_RE,
    doc: 'durable consumer name on ADVISORIES',
  },
  captureBatch: { env: 'DLQ_CAPTURE_BATCH', type: 'int', default: DEFAULT_CAPTURE_BATCH, min: 1, max: 1000, doc: 'advisories per pull' },
  captureAckWaitMs: {
    env: 'DLQ_CAPTURE_ACK_WAIT',
    type: 'duration',
    default: DEFAULT_CAPTURE_ACK_WAIT,
    min: '1s',
    doc: 'ack wait of the capture consumer',
  },
  captureRetryMaxMs: {
    env: 'DLQ_CAPTURE_RETRY_MAX',
    type: 'duration',
    default: DEFAULT_CAPTURE_RETRY_MAX,
    min: '100ms',
    doc: 'longest backoff before a failed advisory is retried',
  },
  expiryConsumer: {
    env: 'DLQ_EXPIRY_CONSUMER',
    type: 'string',
    default: DEFAULT_EXPIRY_CONSUMER,
    pattern: CONSUMER_NAME_RE,
    doc: 'durable consumer name of the expiry detector on RECEIPTS (order acceptance records)',
  },
  expiryBatch: { env: 'DLQ_EXPIRY_BATCH', type: 'int', default: DEFAULT_EXPIRY_BATCH, min: 1, max: 1000, doc: 'acceptance records per pull' },
  expiryMaxPending: {
    env: 'DLQ_EXPIRY_MAX_PENDING',
    type: 'int',
    default: DEFAULT_EXPIRY_MAX_PENDING,
    min: 1,
    max: 1_000_000,
    doc: 'acceptance records held at once (waiting to come due), all replicas together',
  },
  replayMax,
  indexSyncTimeoutMs: {
    env: 'DLQ_INDEX_SYNC_TIMEOUT',
    type: 'duration',
    default: DEFAULT_INDEX_SYNC_TIMEOUT,
    min: '1s',
    doc: 'first read of the DLQ stream at start',
  },
  readBarrierTimeoutMs: {
    env: 'DLQ_READ_BARRIER_TIMEOUT',
    type: 'duration',
    default: DEFAULT_READ_BARRIER_TIMEOUT,
    min: '50ms',
    doc: 'wait for the index to catch up before a list answers 503',
  },
  statsIntervalMs: {
    env: 'DLQ_STATS_INTERVAL',
    type: 'duration',
    default: DEFAULT_STATS_INTERVAL,
    min: '100ms',
    doc: 'how often the capture backlog is read',
  },
  rateLimitMax: {
    env: 'DLQ_RATE_LIMIT_MAX',
    type: 'int',
    default: DEFAULT_RATE_LIMIT_MAX,
    min: 1,
    doc: 'API requests per tenant per window (reads and actions counted separately), per process',
  },
  rateLimitWindowMs: { env: 'DLQ_RATE_LIMIT_WINDOW', type: 'duration', default: DEFAULT_RATE_LIMIT_WINDOW, min: '1s', doc: 'rate-limit window' },
  ...authFailureGateConfig(),
  ...auditAggregateConfig(),
} as const;

export type DlqConfig = Config<typeof CONFIG_SPEC>;

export function loadDlqConfig(env: Readonly<Record<string, string | undefined>> = process.env): DlqConfig {
  return loadConfig(CONFIG_SPEC, env);
}

/** The SRE CLI (`dist/cli.js`) talks to NATS directly, with the pod's environment. */
export const CLI_CONFIG_SPEC = {
  natsUrl,
  ...natsIdentity,
  natsTimeoutMs,
  instanceId: logging.instanceId,
  replayMax,
  logLevel: { ...logging.logLevel, default: 'warn', doc: 'CLI logs go to stderr' },
  actor: {
    env: 'DLQ_CLI_ACTOR',
    type: 'string',
    required: false,
    pattern: /^[\x21-\x7e]{1,128}$/,
    doc: 'who is acting, recorded in audit events (default: $USER, else "cli")',
  },
  user: { env: 'USER', type: 'string', required: false, doc: 'fallback actor name' },
} as const;

export type CliConfig = Config<typeof CLI_CONFIG_SPEC>;

export function loadCliConfig(env: Readonly<Record<string, string | undefined>> = process.env): CliConfig {
  return loadConfig(CLI_CONFIG_SPEC, env);
}
