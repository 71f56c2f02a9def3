/**
 * The only file of the webhooks dispatcher that reads `process.env`. Everything is validated
 * once at start; a bad variable stops the process with a message naming it.
 */
import {
  ConfigError,
  addressPolicyOf,
  httpConfig,
  listenConfig,
  loadConfig,
  logConfig,
  natsConfig,
  natsIdentityConfig,
  parseDuration,
  redisConfig,
  shutdownConfig,
  webhookTargetConfig,
  type Config,
} from '@orderwire/platform';

/** The local port of the dispatcher (health, readiness, metrics only: it serves no API). */
export const DEFAULT_PORT = 3006;
/** Bound on every JetStream request the dispatcher makes. */
export const DEFAULT_NATS_TIMEOUT = '5s';
/** Durable consumer of the dispatcher on RECEIPTS, shared by its replicas. */
export const DEFAULT_RECEIPTS_CONSUMER = 'webhooks_receipts';
/**
 * Waits before attempts 2, 3, …: the Standard Webhooks / Svix schedule (attempt 1 is immediate),
 * about 28 hours in all; each wait gets ±20 % jitter.
 */
export const DEFAULT_RETRY_SCHEDULE = ['5s', '5m', '30m', '2h', '5h', '10h', '10h'] as const;
/** One attempt may take this long (connect, send, answer headers). */
export const DEFAULT_REQUEST_TIMEOUT = '15s';
/** Attempts in flight across all endpoints. */
export const DEFAULT_CONCURRENCY = 64;
/** Attempts in flight to one endpoint: a slow endpoint holds at most this many of the slots. */
export const DEFAULT_ENDPOINT_CONCURRENCY = 4;
/** An endpoint failing without a single success for this long is disabled (reason `failing`). */
export const DEFAULT_DISABLE_AFTER = '5d';
/** How often due deliveries are looked for (new ones start at once regardless). */
export const DEFAULT_TICK = '250ms';
/** A Retry-After longer than this is capped (a receiver must not park a delivery for weeks). */
export const DEFAULT_RETRY_AFTER_MAX = '1h';
/** Failed share of an endpoint's recent attempts that opens its breaker. */
export const DEFAULT_BREAKER_ERROR_THRESHOLD = 50;
/** Attempts in the window before an endpoint's breaker may open. */
export const DEFAULT_BREAKER_VOLUME_THRESHOLD = 5;
/** An open breaker lets a trial attempt through after this. */
export const DEFAULT_BREAKER_RESET_TIMEOUT = '30s';
/** Rolling window of a breaker's statistics. */
export const DEFAULT_BREAKER_WINDOW = '60s';
/** A display gone this long with orders waiting is reported (`display.offline`). */
export const DEFAULT_OFFLINE_AFTER = '5m';
/** How often display presence is read for tenants subscribed to display.* events. */
export const DEFAULT_PRESENCE_INTERVAL = '30s';
/** 30 s for the first full read of the endpoint and delivery buckets. */
export const DEFAULT_SYNC_TIMEOUT = '30s';

const CONSUMER_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const DURATION_RE = /^\d+(ms|s|m|h|d)?$/;

export const CONFIG_SPEC = {
  ...listenConfig(DEFAULT_PORT),
  ...natsConfig(),
  ...natsIdentityConfig(),
  ...redisConfig('display presence (display.offline / display.online events)'),
  ...logConfig('instance name in logs, metrics and delivery claims'),
  ...shutdownConfig('shutdown deadline'),
  ...httpConfig(),
  ...webhookTargetConfig(),
  natsTimeoutMs: { env: 'WEBHOOKS_NATS_TIMEOUT', type: 'duration', default: DEFAULT_NATS_TIMEOUT, min: '100ms', max: '60s', doc: 'bound on JetStream requests' },
  receiptsConsumer: {
    env: 'WEBHOOKS_RECEIPTS_CONSUMER',
    type: 'string',
    default: DEFAULT_RECEIPTS_CONSUMER,
    pattern: CONSUMER_NAME_RE,
    doc: 'durable consumer name on RECEIPTS',
  },
  retrySchedule: {
    env: 'WEBHOOKS_RETRY_SCHEDULE',
    type: 'list',
    default: DEFAULT_RETRY_SCHEDULE,
    itemPattern: DURATION_RE,
    minItems: 0,
    doc: 'waits before the 2nd, 3rd, … attempt (comma-separated durations); after the last, the delivery fails',
  },
  requestTimeoutMs: { env: 'WEBHOOKS_REQUEST_TIMEOUT', type: 'duration', default: DEFAULT_REQUEST_TIMEOUT, min: '100ms', max: '60s', doc: 'bound on one attempt' },
  concurrency: { env: 'WEBHOOKS_CONCURRENCY', type: 'int', default: DEFAULT_CONCURRENCY, min: 1, max: 10_000, doc: 'attempts in flight, all endpoints' },
  endpointConcurrency: {
    env: 'WEBHOOKS_ENDPOINT_CONCURRENCY',
    type: 'int',
    default: DEFAULT_ENDPOINT_CONCURRENCY,
    min: 1,
    max: 1000,
    doc: 'attempts in flight to one endpoint',
  },
  disableAfterMs: {
    env: 'WEBHOOKS_DISABLE_AFTER',
    type: 'duration',
    default: DEFAULT_DISABLE_AFTER,
    min: '1s',
    doc: 'an endpoint failing this long without a success is disabled',
  },
  tickMs: { env: 'WEBHOOKS_TICK', type: 'duration', default: DEFAULT_TICK, min: '10ms', max: '10s', doc: 'how often due deliveries are looked for' },
  retryAfterMaxMs: {
    env: 'WEBHOOKS_RETRY_AFTER_MAX',
    type: 'duration',
    default: DEFAULT_RETRY_AFTER_MAX,
    min: '1s',
    doc: 'cap on a receiver’s Retry-After',
  },
  breakerErrorThreshold: {
    env: 'WEBHOOKS_BREAKER_ERROR_THRESHOLD',
    type: 'int',
    default: DEFAULT_BREAKER_ERROR_THRESHOLD,
    min: 1,
    max: 100,
    doc: 'failed % of an endpoint’s attempts in the window that opens its breaker',
  },
  breakerVolumeThreshold: {
    env: 'WEBHOOKS_BREAKER_VOLUME_THRESHOLD',
    type: 'int',
    default: DEFAULT_BREAKER_VOLUME_THRESHOLD,
    min: 1,
    doc: 'attempts in the window before a breaker may open',
  },
  breakerResetTimeoutMs: {
    env: 'WEBHOOKS_BREAKER_RESET_TIMEOUT',
    type: 'duration',
    default: DEFAULT_BREAKER_RESET_TIMEOUT,
    min: '10ms',
    doc: 'open breaker → trial attempt after this',
  },
  breakerWindowMs: { env: 'WEBHOOKS_BREAKER_WINDOW', type: 'duration', default: DEFAULT_BREAKER_WINDOW, min: '100ms', doc: 'breaker statistics window' },
  offlineAfterMs: {
    env: 'WEBHOOKS_DISPLAY_OFFLINE_AFTER',
    type: 'duration',
    default: DEFAULT_OFFLINE_AFTER,
    min: '1s',
    doc: 'a display gone this long with orders waiting is reported (display.offline)',
  },
  presenceIntervalMs: {
    env: 'WEBHOOKS_PRESENCE_INTERVAL',
    type: 'duration',
    default: DEFAULT_PRESENCE_INTERVAL,
    min: '100ms',
    doc: 'how often display presence is read (tenants subscribed to display.* only)',
  },
  syncTimeoutMs: {
    env: 'WEBHOOKS_SYNC_TIMEOUT',
    type: 'duration',
    default: DEFAULT_SYNC_TIMEOUT,
    min: '1s',
    doc: 'first read of the endpoint and delivery buckets at start',
  },
} as const;

export type WebhooksConfig = Config<typeof CONFIG_SPEC> & { readonly retryScheduleMs: readonly number[] };

export function loadWebhooksConfig(env: Readonly<Record<string, string | undefined>> = process.env): WebhooksConfig {
  const c = loadConfig(CONFIG_SPEC, env);
  addressPolicyOf(c); // a malformed CIDR stops the start, naming WEBHOOKS_ALLOWED_CIDRS
  const retryScheduleMs = c.retrySchedule.map((d) => parseDuration(d));
  if (retryScheduleMs.some((ms) => ms === undefined)) {
    throw new ConfigError([{ key: 'retrySchedule', env: 'WEBHOOKS_RETRY_SCHEDULE', reason: 'every item must be a duration such as 5s or 2h' }]);
  }
  return Object.freeze({ ...c, retryScheduleMs: retryScheduleMs as number[] });
}
