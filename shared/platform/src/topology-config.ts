/**
 * The JetStream topology's configuration: every setting of every stream and KV bucket, read
 * from the environment once and validated, in ONE spec. Only the topology owner
 * (`orderwire-auth topology apply`) reads it to apply; services never do — they verify what
 * they need (`verifyTopology`). docs/topology.md lists every variable.
 */
import { ConfigError, loadConfig, type ConfigProblem, type Config } from './config.js';
import { ORDER_VIRTUAL_PARTITIONS } from '@orderwire/contracts';
import { isValidPartitionCount } from './order-streams.js';
import { KV_BUCKETS, TOPOLOGY_DEFAULTS, type KvBucketName, type TopologyOptions } from './topology.js';

const SIZE_RE = /^(\d+)\s*(B|KiB|MiB|GiB|TiB)?$/;
const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** Parses `512MiB`, `20GiB` or a plain byte count. Returns undefined if malformed. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Formats a byte count with the largest unit that divides it (for summaries and docs). */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const f = SIZE_UNITS[unit]!;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return `${bytes}B`;
}

const D = TOPOLOGY_DEFAULTS;
const SIZE_PATTERN = /^\s*\d+\s*(B|KiB|MiB|GiB|TiB)?\s*$/;
const sizeVar = (env: string, def: string, doc: string) => ({ env, type: 'string', default: def, pattern: SIZE_PATTERN, doc }) as const;
const ageVar = (env: string, def: number, doc: string) => ({ env, type: 'duration', default: def, min: 0, doc }) as const;
const ttlVar = (env: string, doc: string) => ({ env, type: 'duration', required: false, min: 0, doc }) as const;

/** Env name of a bucket's max-bytes variable: `ow_refresh_tokens` → `JETSTREAM_KV_REFRESH_TOKENS_MAX_BYTES`. */
export function kvMaxBytesEnv(bucket: KvBucketName): string {
  return `JETSTREAM_KV_${bucket.replace(/^ow_/, '').toUpperCase()}_MAX_BYTES`;
}

/**
 * Every variable of the topology. Sizes take `B`/`KiB`/`MiB`/`GiB`/`TiB`; durations `30s`, `7d`;
 * 0 means "no limit" for max ages and TTLs. The max-bytes defaults add up to ~10 GiB, sized
 * for one NATS volume of 20 GiB per node (docs/topology.md: the sizing and what to change).
 * Every max_bytes is reserved by the server at creation: the sum must fit its `max_file_store`.
 */
export const TOPOLOGY_CONFIG_SPEC = {
  replicas: { env: 'JETSTREAM_REPLICAS', type: 'int', default: D.replicas, min: 1, max: 5, doc: 'replicas of every stream and KV bucket (3 in a 3-node cluster)' },
  orderPartitions: {
    env: 'JETSTREAM_ORDER_PARTITIONS',
    type: 'int',
    default: D.orderPartitions,
    min: 1,
    max: ORDER_VIRTUAL_PARTITIONS,
    doc: 'order partition streams ORDERS_P<i> (a power of two up to 256; ~700 displays per stream: 16 for 10,000 displays); changed on a running system only with `orderwire-auth topology repartition`',
  },
  ordersMaxAgeMs: ageVar('JETSTREAM_ORDERS_MAX_AGE', D.ordersMaxAgeMs, 'how long an order waits in ORDERS for an offline display'),
  ordersDuplicateWindowMs: {
    env: 'JETSTREAM_ORDERS_DUPLICATE_WINDOW',
    type: 'duration',
    default: D.ordersDuplicateWindowMs,
    min: '1s',
    doc: 'window in which a repeated Idempotency-Key (Nats-Msg-Id) is dropped as a duplicate; <= the max age',
  },
  ordersMaxMsgSize: sizeVar('JETSTREAM_ORDERS_MAX_MSG_SIZE', formatSize(D.ordersMaxMsgSize), 'largest order envelope ORDERS accepts'),
  ordersMaxConsumers: {
    env: 'JETSTREAM_ORDERS_MAX_CONSUMERS',
    type: 'int',
    default: D.ordersMaxConsumers,
    min: 1,
    doc: 'display mailboxes (one consumer each); fixed when ORDERS is created',
  },
  ordersMaxBytes: sizeVar(
    'JETSTREAM_ORDERS_MAX_BYTES',
    formatSize(D.streamMaxBytes.ORDERS),
    'size limit of all order partition streams together (each gets 1/P); when full, new orders are refused (ingest answers 503), none are dropped',
  ),
  receiptsMaxAgeMs: ageVar('JETSTREAM_RECEIPTS_MAX_AGE', D.receiptsMaxAgeMs, 'how long delivery receipts (order status) are kept'),
  receiptsMaxBytes: sizeVar('JETSTREAM_RECEIPTS_MAX_BYTES', formatSize(D.streamMaxBytes.RECEIPTS), 'RECEIPTS size limit; the oldest receipts go first'),
  advisoriesMaxAgeMs: ageVar('JETSTREAM_ADVISORIES_MAX_AGE', D.advisoriesMaxAgeMs, 'how long captured max-delivery advisories are kept'),
  advisoriesMaxBytes: sizeVar('JETSTREAM_ADVISORIES_MAX_BYTES', formatSize(D.streamMaxBytes.ADVISORIES), 'ADVISORIES size limit'),
  dlqMaxAgeMs: ageVar('JETSTREAM_DLQ_MAX_AGE', D.dlqMaxAgeMs, 'how long a dead letter is kept when nobody replays or discards it; 0 = forever'),
  dlqMaxBytes: sizeVar('JETSTREAM_DLQ_MAX_BYTES', formatSize(D.streamMaxBytes.DLQ), 'DLQ size limit; the oldest dead letters go first'),
  auditMaxAgeMs: ageVar('JETSTREAM_AUDIT_MAX_AGE', D.auditMaxAgeMs, 'how long audit events are kept'),
  auditMaxBytes: sizeVar('JETSTREAM_AUDIT_MAX_BYTES', formatSize(D.streamMaxBytes.AUDIT), 'AUDIT size limit; the oldest events go first'),
  enrollmentTtlMs: ttlVar(
    'JETSTREAM_KV_ENROLLMENTS_TTL',
    'ow_enrollments entry lifetime; unset: max(15m, 2 × AUTH_ENROLLMENT_TTL); must be >= AUTH_ENROLLMENT_TTL',
  ),
  refreshTokenTtlMs: ttlVar(
    'JETSTREAM_KV_REFRESH_TOKENS_TTL',
    'ow_refresh_tokens entry lifetime; unset: max(30d, AUTH_REFRESH_TTL); must be >= AUTH_REFRESH_TTL',
  ),
  leaseTtlMs: ttlVar('JETSTREAM_KV_LEASES_TTL', 'ow_leases entry lifetime; unset: max(30s, AUTH_LEASE_TTL); must be >= AUTH_LEASE_TTL'),
  signingKeysHistory: {
    env: 'JETSTREAM_KV_SIGNING_KEYS_HISTORY',
    type: 'int',
    default: D.signingKeysHistory,
    min: 1,
    max: 64,
    doc: 'keyring revisions kept in ow_signing_keys',
  },
  tenantsMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.TENANTS), formatSize(D.kvMaxBytes.ow_tenants), 'ow_tenants size limit'),
  clientsMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.CLIENTS), formatSize(D.kvMaxBytes.ow_clients), 'ow_clients size limit'),
  displaysMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.DISPLAYS), formatSize(D.kvMaxBytes.ow_displays), 'ow_displays size limit (~100,000 displays)'),
  enrollmentsMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.ENROLLMENTS), formatSize(D.kvMaxBytes.ow_enrollments), 'ow_enrollments size limit'),
  refreshTokensMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.REFRESH_TOKENS), formatSize(D.kvMaxBytes.ow_refresh_tokens), 'ow_refresh_tokens size limit'),
  signingKeysMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.SIGNING_KEYS), formatSize(D.kvMaxBytes.ow_signing_keys), 'ow_signing_keys size limit'),
  leasesMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.LEASES), formatSize(D.kvMaxBytes.ow_leases), 'ow_leases size limit'),
  revokedClientsMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.REVOKED_CLIENTS), formatSize(D.kvMaxBytes.ow_revoked_clients), 'ow_revoked_clients size limit'),
  webhooksMaxBytes: sizeVar(kvMaxBytesEnv(KV_BUCKETS.WEBHOOKS), formatSize(D.kvMaxBytes.ow_webhooks), 'ow_webhooks size limit (webhook endpoints)'),
  webhookDeliveriesMaxBytes: sizeVar(
    kvMaxBytesEnv(KV_BUCKETS.WEBHOOK_DELIVERIES),
    formatSize(D.kvMaxBytes.ow_webhook_deliveries),
    'ow_webhook_deliveries size limit (delivery records of the last JETSTREAM_KV_WEBHOOK_DELIVERIES_TTL)',
  ),
  webhookDeliveriesTtlMs: ageVar(
    'JETSTREAM_KV_WEBHOOK_DELIVERIES_TTL',
    D.webhookDeliveriesTtlMs,
    'how long a webhook delivery record is kept after its last change; must outlast WEBHOOKS_RETRY_SCHEDULE',
  ),
  expiredNoticesMaxBytes: sizeVar(
    kvMaxBytesEnv(KV_BUCKETS.EXPIRED_NOTICES),
    formatSize(D.kvMaxBytes.ow_expired_notices),
    'ow_expired_notices size limit (orders that expired unseen, per display, until told)',
  ),
} as const;

/**
 * Lifetimes the auth service keeps records for. A bucket's TTL only garbage-collects (expiry
 * is checked inside each record), so it must never be shorter; unset TTL variables follow them.
 * Each names the variable it came from, for error messages.
 */
export interface TopologyLifetimes {
  enrollmentTtlMs?: { ms: number; env: string };
  refreshTokenTtlMs?: { ms: number; env: string };
  leaseTtlMs?: { ms: number; env: string };
}

/** The applied settings: every field set (what `ensureTopology` receives). */
export type TopologyConfig = Readonly<Required<Omit<TopologyOptions, 'streams' | 'buckets' | 'logger'>>>;

type Raw = Config<typeof TOPOLOGY_CONFIG_SPEC>;

function ttl(
  raw: Raw,
  key: 'enrollmentTtlMs' | 'refreshTokenTtlMs' | 'leaseTtlMs',
  floorOf: (ms: number) => number,
  need: { ms: number; env: string } | undefined,
  problems: ConfigProblem[],
): number {
  const explicit = raw[key];
  const def = TOPOLOGY_DEFAULTS[key];
  if (explicit === undefined) return need === undefined ? def : Math.max(def, floorOf(need.ms));
  if (need !== undefined && explicit !== 0 && explicit < need.ms) {
    problems.push({
      key,
      env: TOPOLOGY_CONFIG_SPEC[key].env,
      reason: `must be 0 (forever) or >= ${need.env} (${need.ms} ms): entries would vanish before they expire`,
    });
  }
  return explicit;
}

/**
 * Reads and validates the topology configuration.
 * @param lifetimes what the auth service needs the buckets to keep (from its own config)
 * @throws ConfigError naming every bad variable
 */
export function loadTopologyConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  lifetimes: TopologyLifetimes = {},
): TopologyConfig {
  const raw = loadConfig(TOPOLOGY_CONFIG_SPEC, env);
  const problems: ConfigProblem[] = [];
  const size = (key: keyof typeof TOPOLOGY_CONFIG_SPEC & `${string}MaxBytes` | 'ordersMaxMsgSize'): number => {
    const n = parseSize(raw[key]);
    if (n === undefined || n < 1) {
      problems.push({ key, env: TOPOLOGY_CONFIG_SPEC[key].env, reason: 'must be a size such as 512MiB or 4GiB, at least 1 byte' });
      return 1;
    }
    return n;
  };
  if (raw.ordersMaxAgeMs > 0 && raw.ordersDuplicateWindowMs > raw.ordersMaxAgeMs) {
    problems.push({
      key: 'ordersDuplicateWindowMs',
      env: TOPOLOGY_CONFIG_SPEC.ordersDuplicateWindowMs.env,
      reason: `must be <= JETSTREAM_ORDERS_MAX_AGE (${raw.ordersMaxAgeMs} ms)`,
    });
  }
  // An order's acceptance record (RECEIPTS) must outlive the order (ORDERS): else its status
  // vanishes first and the expiry detector never sees the order expire.
  if (raw.receiptsMaxAgeMs > 0 && (raw.ordersMaxAgeMs === 0 || raw.receiptsMaxAgeMs <= raw.ordersMaxAgeMs)) {
    problems.push({
      key: 'receiptsMaxAgeMs',
      env: TOPOLOGY_CONFIG_SPEC.receiptsMaxAgeMs.env,
      reason: `must be 0 (forever) or longer than JETSTREAM_ORDERS_MAX_AGE (${raw.ordersMaxAgeMs} ms; 0 = forever): order status and expiry detection read RECEIPTS after the order is gone`,
    });
  }
  if (!isValidPartitionCount(raw.orderPartitions)) {
    problems.push({ key: 'orderPartitions', env: TOPOLOGY_CONFIG_SPEC.orderPartitions.env, reason: 'must be a power of two from 1 to 256' });
  }
  const config: TopologyConfig = {
    replicas: raw.replicas,
    orderPartitions: raw.orderPartitions,
    ordersMaxAgeMs: raw.ordersMaxAgeMs,
    ordersDuplicateWindowMs: raw.ordersDuplicateWindowMs,
    ordersMaxMsgSize: size('ordersMaxMsgSize'),
    ordersMaxConsumers: raw.ordersMaxConsumers,
    receiptsMaxAgeMs: raw.receiptsMaxAgeMs,
    advisoriesMaxAgeMs: raw.advisoriesMaxAgeMs,
    dlqMaxAgeMs: raw.dlqMaxAgeMs,
    auditMaxAgeMs: raw.auditMaxAgeMs,
    enrollmentTtlMs: ttl(raw, 'enrollmentTtlMs', (ms) => 2 * ms, lifetimes.enrollmentTtlMs, problems),
    refreshTokenTtlMs: ttl(raw, 'refreshTokenTtlMs', (ms) => ms, lifetimes.refreshTokenTtlMs, problems),
    leaseTtlMs: ttl(raw, 'leaseTtlMs', (ms) => ms, lifetimes.leaseTtlMs, problems),
    signingKeysHistory: raw.signingKeysHistory,
    // Bound by the longest client-token lifetime (24 h), not a deployment choice.
    revokedClientsTtlMs: TOPOLOGY_DEFAULTS.revokedClientsTtlMs,
    webhookDeliveriesTtlMs: raw.webhookDeliveriesTtlMs,
    streamMaxBytes: Object.freeze({
      ORDERS: size('ordersMaxBytes'),
      RECEIPTS: size('receiptsMaxBytes'),
      ADVISORIES: size('advisoriesMaxBytes'),
      DLQ: size('dlqMaxBytes'),
      AUDIT: size('auditMaxBytes'),
    }),
    kvMaxBytes: Object.freeze({
      [KV_BUCKETS.TENANTS]: size('tenantsMaxBytes'),
      [KV_BUCKETS.CLIENTS]: size('clientsMaxBytes'),
      [KV_BUCKETS.DISPLAYS]: size('displaysMaxBytes'),
      [KV_BUCKETS.ENROLLMENTS]: size('enrollmentsMaxBytes'),
      [KV_BUCKETS.REFRESH_TOKENS]: size('refreshTokensMaxBytes'),
      [KV_BUCKETS.SIGNING_KEYS]: size('signingKeysMaxBytes'),
      [KV_BUCKETS.LEASES]: size('leasesMaxBytes'),
      [KV_BUCKETS.REVOKED_CLIENTS]: size('revokedClientsMaxBytes'),
      [KV_BUCKETS.WEBHOOKS]: size('webhooksMaxBytes'),
      [KV_BUCKETS.WEBHOOK_DELIVERIES]: size('webhookDeliveriesMaxBytes'),
      [KV_BUCKETS.EXPIRED_NOTICES]: size('expiredNoticesMaxBytes'),
    }),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
