/**
 * The JetStream topology, declared in ONE place: every stream, every KV bucket and the display
 * consumer template. It has ONE owner: `ensureTopology` (run by `orderwire-auth topology apply`
 * with the settings of `loadTopologyConfig`) makes the server match the declaration: creates
 * what is missing, updates what JetStream can change in place, and refuses (with
 * ORDERWIRE_ERR_TOPOLOGY_CONFLICT, before changing anything) when an existing item differs in
 * a field JetStream cannot change — e.g. storage type — because silently recreating a stream
 * would delete the orders in it. Services never apply: at start they `verifyTopology` that what
 * they need exists with compatible settings (docs/topology.md says what "compatible" means).
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { millis, nanos, type NatsConnection } from '@nats-io/nats-core';
import {
  DISPLAY_CONSUMER_METADATA,
  ORDER_RING_PREFIX,
  ORDERS_SUBJECT_PREFIX,
  displayConsumerName,
  displayFilterSubjects,
  orderPartition,
  orderPartitionSubject,
} from '@orderwire/contracts';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';
import { JS_API_CODES, isJetStreamApiError } from './jetstream.js';
import {
  declaredPartitionVps,
  isValidPartitionCount,
  legacyCapturesOrders,
  listOrderStreams,
  orderStreamFor,
  orderStreamName,
  parseOrderStreamName,
  readOrderStreamAssignment,
  LEGACY_ORDERS_STREAM,
} from './order-streams.js';

const MS = 1;
const SECOND = 1_000 * MS;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * Stream names (contract: services address streams by these). `ORDERS` is not one stream: it
 * names the group of order partition streams `ORDERS_P<i>` (ADR 0003) in the selections of
 * `ensureTopology` / `verifyTopology` and in `streamMaxBytes` (their total). To read or write
 * orders, name the stream with `orderStreamFor` / `createOrderStreamLocator` (order-streams.ts),
 * or take it from what the server said (a PubAck, a message's info, an advisory).
 */
export const STREAMS = Object.freeze({
  ORDERS: 'ORDERS',
  RECEIPTS: 'RECEIPTS',
  ADVISORIES: 'ADVISORIES',
  DLQ: 'DLQ',
  AUDIT: 'AUDIT',
} as const);
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

/** KV bucket names (contract). */
export const KV_BUCKETS = Object.freeze({
  TENANTS: 'ow_tenants',
  CLIENTS: 'ow_clients',
  DISPLAYS: 'ow_displays',
  ENROLLMENTS: 'ow_enrollments',
  REFRESH_TOKENS: 'ow_refresh_tokens',
  SIGNING_KEYS: 'ow_signing_keys',
  LEASES: 'ow_leases',
  /** Revoked OAuth clients (key = client id), watched by every API that verifies client tokens. */
  REVOKED_CLIENTS: 'ow_revoked_clients',
  /** Webhook endpoints (key `<tenant>.<endpointId>`): ingest manages them, the dispatcher reads them. */
  WEBHOOKS: 'ow_webhooks',
  /** Webhook deliveries and their retry state, written by the webhooks dispatcher (contracts webhooks.ts). */
  WEBHOOK_DELIVERIES: 'ow_webhook_deliveries',
  /**
   * Orders that expired unseen, per display (key `<tenant>.<displayId>`), until the display has
   * been told: written by the DLQ service's expiry detector, read and cleared by the edge.
   */
  EXPIRED_NOTICES: 'ow_expired_notices',
} as const);
export type KvBucketName = (typeof KV_BUCKETS)[keyof typeof KV_BUCKETS];

/**
 * Advisory subjects captured by the ADVISORIES stream (advisories are core NATS, at-most-once).
 * The stream token is a wildcard: it captures every order partition stream, whatever the
 * partition count and across a repartition, and the DLQ keeps only advisories of order streams
 * (`isOrderStream`). NATS wildcards are whole tokens, so `ORDERS_P*` cannot be written.
 */
export const ADVISORY_SUBJECTS = Object.freeze({
  maxDeliveries: '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.*.>',
  terminated: '$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.*.>',
} as const);

/** Defaults of `TopologyOptions` (ms unless named otherwise). */
export const TOPOLOGY_DEFAULTS = Object.freeze({
  replicas: 1,
  /**
   * Order partition streams P (ADR 0003). Small by default so a development stack and the test
   * suites stay quick to apply while still spreading stores over more than one stream;
   * production sets 16 (k8s overlay): ~700 displays per stream at 10,000 displays.
   * @default 2
   */
  orderPartitions: 2,
  /** @default 7 d */
  ordersMaxAgeMs: 7 * DAY,
  /** Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate. @default 2 h */
  ordersDuplicateWindowMs: 2 * HOUR,
  /** @default 256 KiB */
  ordersMaxMsgSize: 256 * 1024,
  /**
   * One consumer per display. Explicit because nats-server 2.15 caps streams that set no limit
   * at 1,000 consumers (`default_max_consumers`), which would stop registration at display 1,001.
   * @default 100,000
   */
  ordersMaxConsumers: 100_000,
  /**
   * Longer than `ordersMaxAgeMs`: an order's acceptance record must outlive the order, so its
   * status can say `expired` and the expiry detector still finds the record. @default 8 d
   */
  receiptsMaxAgeMs: 8 * DAY,
  /** @default 7 d */
  advisoriesMaxAgeMs: 7 * DAY,
  /** A dead letter nobody replays or discards is dropped after this; 0 = forever. @default 30 d */
  dlqMaxAgeMs: 30 * DAY,
  /** @default 365 d */
  auditMaxAgeMs: 365 * DAY,
  /** @default 15 min */
  enrollmentTtlMs: 15 * MINUTE,
  /** Refresh-token lifetime. @default 30 d */
  refreshTokenTtlMs: 30 * DAY,
  /** @default 30 s */
  leaseTtlMs: 30 * SECOND,
  /** @default 5 */
  signingKeysHistory: 5,
  /**
   * max_bytes per stream: ~10 GiB with the buckets', sized for a 20 GiB NATS volume per node
   * (docs/topology.md). The server reserves each at creation against its max_file_store.
   */
  streamMaxBytes: Object.freeze({ ORDERS: 4 * GIB, RECEIPTS: 2 * GIB, ADVISORIES: 256 * MIB, DLQ: 1 * GIB, AUDIT: 2 * GIB }),
  /** max_bytes per KV bucket. */
  kvMaxBytes: Object.freeze({
    ow_tenants: 16 * MIB,
    ow_clients: 64 * MIB,
    ow_displays: 256 * MIB,
    ow_enrollments: 64 * MIB,
    ow_refresh_tokens: 512 * MIB,
    ow_signing_keys: 16 * MIB,
    ow_leases: 16 * MIB,
    ow_revoked_clients: 16 * MIB,
    ow_webhooks: 16 * MIB,
    ow_webhook_deliveries: 512 * MIB,
    ow_expired_notices: 64 * MIB,
  }),
  /**
   * Lifetime of a revoked-client entry: longer than the longest client token can live
   * (AUTH_CLIENT_TOKEN_TTL ≤ 24 h, plus clock tolerance), so no token outlives its revocation.
   * @default 25 h
   */
  revokedClientsTtlMs: 25 * HOUR,
  /**
   * How long a webhook delivery's record (its attempts, for `GET /v1/webhooks/:id/deliveries`) is
   * kept after its last change: longer than the whole retry schedule (about 28 h by default).
   * @default 3 d
   */
  webhookDeliveriesTtlMs: 3 * DAY,
});

export interface TopologyOptions {
  /** Replicas of every stream and bucket (3 in a production cluster). @default 1 */
  replicas?: number;
  /** Order partition streams P, a power of two up to 256. @default TOPOLOGY_DEFAULTS.orderPartitions */
  orderPartitions?: number;
  ordersMaxAgeMs?: number;
  ordersDuplicateWindowMs?: number;
  ordersMaxMsgSize?: number;
  ordersMaxConsumers?: number;
  receiptsMaxAgeMs?: number;
  advisoriesMaxAgeMs?: number;
  dlqMaxAgeMs?: number;
  auditMaxAgeMs?: number;
  enrollmentTtlMs?: number;
  refreshTokenTtlMs?: number;
  leaseTtlMs?: number;
  signingKeysHistory?: number;
  /** max_bytes of each stream; `ORDERS` is the total of the partition streams, split evenly. @default TOPOLOGY_DEFAULTS.streamMaxBytes */
  streamMaxBytes?: Readonly<Record<StreamName, number>>;
  /** max_bytes of each KV bucket. @default TOPOLOGY_DEFAULTS.kvMaxBytes */
  kvMaxBytes?: Readonly<Record<KvBucketName, number>>;
  revokedClientsTtlMs?: number;
  webhookDeliveriesTtlMs?: number;
  /** Restrict `ensureTopology` to these streams. @default all */
  streams?: readonly StreamName[];
  /** Restrict `ensureTopology` to these buckets. @default all */
  buckets?: readonly KvBucketName[];
  logger?: Logger;
}

export type StreamDeclaration = Partial<StreamConfig> & Pick<StreamConfig, 'name' | 'subjects' | 'storage' | 'retention'>;

export interface KvDeclaration {
  bucket: KvBucketName;
  /** Values kept per key. */
  history: number;
  /** Entry lifetime in ms; 0 = forever. */
  ttlMs: number;
  replicas: number;
  storage: StorageType;
  description: string;
  maxBytes: number;
}

/** The stream declarations for the given options (pure; used by `ensureTopology` and docs). */
export function streamDeclarations(opts: TopologyOptions = {}): StreamDeclaration[] {
  const o = { ...TOPOLOGY_DEFAULTS, ...stripUndefined(opts) };
  if (o.ordersMaxAgeMs > 0 && o.ordersDuplicateWindowMs > o.ordersMaxAgeMs) {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', {
      kind: 'stream',
      name: STREAMS.ORDERS,
      reason: 'duplicate window must not exceed max age',
    });
  }
  if (!isValidPartitionCount(o.orderPartitions)) {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', {
      kind: 'stream',
      name: STREAMS.ORDERS,
      reason: `order partitions must be a power of two from 1 to 256, got ${o.orderPartitions}`,
    });
  }
  const common = { storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: o.replicas };
  const partitions = Array.from({ length: o.orderPartitions }, (_, i) => orderStreamDeclaration(i, o, common));
  const decls: StreamDeclaration[] = [
    {
      ...common,
      name: STREAMS.RECEIPTS,
      description: 'Latest delivery status per order and display',
      subjects: ['receipts.>'],
      max_msgs_per_subject: 1,
      max_age: nanos(o.receiptsMaxAgeMs),
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.ADVISORIES,
      description: 'Durable copy of max-deliveries and terminated advisories of ORDERS',
      subjects: [ADVISORY_SUBJECTS.maxDeliveries, ADVISORY_SUBJECTS.terminated],
      max_age: nanos(o.advisoriesMaxAgeMs),
    },
    {
      ...common,
      name: STREAMS.DLQ,
      description: 'Latest state of each dead-lettered order',
      subjects: ['dlq.>'],
      max_msgs_per_subject: 1,
      max_age: nanos(o.dlqMaxAgeMs),
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.AUDIT,
      description: 'Append-only audit log',
      subjects: ['audit.>'],
      deny_delete: true,
      deny_purge: true,
      max_age: nanos(o.auditMaxAgeMs),
    },
  ];
  return [...partitions, ...decls.map((d) => ({ ...d, max_bytes: o.streamMaxBytes[d.name as StreamName] }))];
}

interface ResolvedOptions {
  orderPartitions: number;
  ordersMaxAgeMs: number;
  ordersDuplicateWindowMs: number;
  ordersMaxMsgSize: number;
  ordersMaxConsumers: number;
  streamMaxBytes: Readonly<{ ORDERS: number }>;
}

/** Partition stream `index` of P: the vps `vp mod P = index`, the rest as the one ORDERS stream was. */
function orderStreamDeclaration(
  index: number,
  o: ResolvedOptions,
  common: Pick<StreamDeclaration, 'storage' | 'retention' | 'num_replicas'>,
): StreamDeclaration {
  return {
    ...common,
    name: orderStreamName(index),
    description: `Orders for displays, partition ${index} of ${o.orderPartitions}: station-wide and per-display subjects`,
    subjects: declaredPartitionVps(index, o.orderPartitions).map(orderPartitionSubject),
    max_age: nanos(o.ordersMaxAgeMs),
    duplicate_window: nanos(o.ordersDuplicateWindowMs),
    // Full by size: refuse new orders (ingest answers 503, the caller retries) rather than
    // silently drop undelivered ones. Expiry by max age still removes the oldest.
    discard: DiscardPolicy.New,
    allow_direct: true,
    max_msg_size: o.ordersMaxMsgSize,
    max_consumers: o.ordersMaxConsumers,
    // Doorbells for the edges, sent after the store (see ORDER_RING_PREFIX in contracts). The
    // source is every order subject: it need not change when vps move between streams.
    republish: { src: `${ORDERS_SUBJECT_PREFIX}.>`, dest: `${ORDER_RING_PREFIX}.${ORDERS_SUBJECT_PREFIX}.>`, headers_only: true },
    // The configured size is for all order streams together, as one volume reserves it.
    max_bytes: Math.floor(o.streamMaxBytes.ORDERS / o.orderPartitions),
  };
}

/** The declaration of one order partition stream with P = `opts.orderPartitions` (for repartition). */
export function orderStreamDeclarationFor(index: number, opts: TopologyOptions = {}): StreamDeclaration {
  const o = { ...TOPOLOGY_DEFAULTS, ...stripUndefined(opts) };
  return orderStreamDeclaration(index, o, { storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: o.replicas });
}

/** The KV bucket declarations for the given options. */
export function kvDeclarations(opts: TopologyOptions = {}): KvDeclaration[] {
  const o = { ...TOPOLOGY_DEFAULTS, ...stripUndefined(opts) };
  const kv = (bucket: KvBucketName, description: string, ttlMs = 0, history = 1): KvDeclaration => ({
    bucket,
    history,
    ttlMs,
    replicas: o.replicas,
    storage: StorageType.File,
    description,
    maxBytes: o.kvMaxBytes[bucket],
  });
  return [
    kv(KV_BUCKETS.TENANTS, 'Tenants'),
    kv(KV_BUCKETS.CLIENTS, 'OAuth clients'),
    kv(KV_BUCKETS.DISPLAYS, 'Display registry'),
    kv(KV_BUCKETS.ENROLLMENTS, 'Pending enrollment codes', o.enrollmentTtlMs),
    kv(KV_BUCKETS.REFRESH_TOKENS, 'Refresh-token families', o.refreshTokenTtlMs),
    kv(KV_BUCKETS.SIGNING_KEYS, 'Encrypted signing keys', 0, o.signingKeysHistory),
    kv(KV_BUCKETS.LEASES, 'Leader leases', o.leaseTtlMs),
    kv(KV_BUCKETS.REVOKED_CLIENTS, 'Revoked OAuth clients', o.revokedClientsTtlMs),
    kv(KV_BUCKETS.WEBHOOKS, 'Webhook endpoints'),
    kv(KV_BUCKETS.WEBHOOK_DELIVERIES, 'Webhook deliveries and retry state', o.webhookDeliveriesTtlMs),
    // A display away longer than its refresh token lives must enroll again; its notice goes too.
    kv(KV_BUCKETS.EXPIRED_NOTICES, 'Orders that expired unseen, per display, until told', o.refreshTokenTtlMs),
  ];
}

/** Name of the JetStream stream backing a KV bucket. */
export function kvStreamName(bucket: string): string {
  return `KV_${bucket}`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------
// Comparing a declaration with what the server has

/** Fields JetStream cannot change on an existing stream. */
const IMMUTABLE_STREAM_FIELDS = new Set<string>(['storage', 'retention', 'max_consumers', 'first_seq']);
/**
 * deny_delete / deny_purge: the server refuses to turn them off, and an audit stream found
 * with them off cannot be trusted retroactively — either way an operator must decide.
 */
const PROTECTED_STREAM_FIELDS = new Set<string>(['deny_delete', 'deny_purge']);

export type TopologyAction = 'created' | 'updated' | 'unchanged';

export interface TopologyConflict {
  kind: 'stream' | 'kv' | 'consumer';
  name: string;
  field: string;
  existing: unknown;
  declared: unknown;
}

export interface TopologyItemResult {
  kind: 'stream' | 'kv';
  name: string;
  action: TopologyAction;
  /** Fields changed by an update. */
  changed?: string[];
}

export interface TopologySummary {
  items: TopologyItemResult[];
  streams: Partial<Record<StreamName, TopologyAction>>;
  buckets: Partial<Record<KvBucketName, TopologyAction>>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  // Nested settings (republish): every declared field must match; the server may add defaults.
  if (isPlainObject(b)) return isPlainObject(a) && Object.entries(b).every(([k, v]) => sameValue(a[k], v));
  if (Array.isArray(a) && Array.isArray(b)) {
    const sa = [...(a as unknown[])].map(String).sort();
    const sb = [...(b as unknown[])].map(String).sort();
    return sa.length === sb.length && sa.every((v, i) => v === sb[i]);
  }
  // The server omits false/zero fields it considers defaults.
  if (a === undefined) return b === false || b === 0 || b === undefined;
  return a === b;
}

function show(v: unknown): string {
  if (isPlainObject(v)) return JSON.stringify(v);
  return Array.isArray(v) ? `[${v.join(',')}]` : String(v);
}

interface StreamPlan {
  kind: 'stream' | 'kv';
  name: string;
  stream: string;
  declared: Record<string, unknown>;
  existing?: StreamConfig;
  changed: string[];
  conflicts: TopologyConflict[];
  create: () => Promise<unknown>;
}

function diff(plan: StreamPlan, existing: StreamConfig): void {
  plan.existing = existing;
  plan.changed = [];
  plan.conflicts = [];
  const have = existing as unknown as Record<string, unknown>;
  if (existing.mirror !== undefined) {
    plan.conflicts.push({ kind: plan.kind, name: plan.name, field: 'mirror', existing: existing.mirror.name, declared: 'none' });
  }
  for (const [field, want] of Object.entries(plan.declared)) {
    if (field === 'name' || sameValue(have[field], want)) continue;
    // A stream created without a consumer limit (before it was declared) already allows more;
    // nats-server 2.10 cannot change the field, so it is left as it is.
    if (field === 'max_consumers' && typeof have[field] === 'number' && have[field] <= 0) continue;
    if (IMMUTABLE_STREAM_FIELDS.has(field) || PROTECTED_STREAM_FIELDS.has(field)) {
      plan.conflicts.push({ kind: plan.kind, name: plan.name, field, existing: have[field], declared: want });
    } else {
      plan.changed.push(field);
    }
  }
}

/** Stream info, or undefined when the stream does not exist (package-internal; not exported from index). */
export async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isJetStreamApiError(err, JS_API_CODES.StreamNotFound)) return undefined;
    throw err;
  }
}

function updateConfig(plan: StreamPlan): Partial<StreamConfig> {
  const next: Record<string, unknown> = { ...plan.existing };
  for (const f of plan.changed) next[f] = plan.declared[f];
  // The server rejects a duplicate window longer than max age (e.g. after shortening a TTL).
  const maxAge = next.max_age as number | undefined;
  const dup = next.duplicate_window as number | undefined;
  if (maxAge !== undefined && maxAge > 0 && dup !== undefined && dup > maxAge && !('duplicate_window' in plan.declared)) {
    next.duplicate_window = maxAge;
  }
  return next;
}

function conflictError(conflicts: readonly TopologyConflict[]): Error {
  const summary = conflicts
    .map((c) => `${c.kind} ${c.name} field ${c.field}: existing ${show(c.existing)}, declared ${show(c.declared)}`)
    .join('; ');
  const first = conflicts[0]!;
  return PLATFORM_ERRORS.create(
    'ORDERWIRE_ERR_TOPOLOGY_CONFLICT',
    {
      kind: first.kind,
      name: first.name,
      field: conflicts.filter((c) => c.name === first.name).map((c) => c.field).join(', '),
      summary,
    },
    { details: { conflicts } },
  );
}

function failed(kind: string, name: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message : String(err);
  return PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', { kind, name, reason }, { cause: err });
}

/**
 * Creates or updates every declared stream and KV bucket. Plans first: if any existing item
 * conflicts with its declaration, throws ORDERWIRE_ERR_TOPOLOGY_CONFLICT listing all conflicts
 * and changes nothing. Safe to run concurrently from several services.
 */
export async function ensureTopology(nc: NatsConnection, opts: TopologyOptions = {}): Promise<TopologySummary> {
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const log = opts.logger;
  const wantStreams = opts.streams === undefined ? undefined : new Set<string>(opts.streams);
  const wantBuckets = opts.buckets === undefined ? undefined : new Set<string>(opts.buckets);

  const decls = streamDeclarations(opts);
  if (wantStreams === undefined || wantStreams.has(STREAMS.ORDERS)) {
    await checkOrderPartitions(jsm, opts.orderPartitions ?? TOPOLOGY_DEFAULTS.orderPartitions, log);
  }
  const plans: StreamPlan[] = [];
  for (const decl of decls) {
    if (wantStreams !== undefined && !wantStreams.has(streamGroup(decl.name))) continue;
    plans.push({
      kind: 'stream',
      name: decl.name,
      stream: decl.name,
      declared: decl,
      changed: [],
      conflicts: [],
      create: () => jsm.streams.add(decl),
    });
  }
  for (const kv of kvDeclarations(opts)) {
    if (wantBuckets !== undefined && !wantBuckets.has(kv.bucket)) continue;
    plans.push({
      kind: 'kv',
      name: kv.bucket,
      stream: kvStreamName(kv.bucket),
      // Compared against the backing stream's config, in the server's field names.
      declared: {
        storage: kv.storage,
        max_msgs_per_subject: kv.history,
        max_age: nanos(kv.ttlMs),
        num_replicas: kv.replicas,
        description: kv.description,
        max_bytes: kv.maxBytes,
      },
      changed: [],
      conflicts: [],
      create: () =>
        kvm.create(kv.bucket, {
          history: kv.history,
          ttl: kv.ttlMs,
          replicas: kv.replicas,
          storage: kv.storage,
          description: kv.description,
          max_bytes: kv.maxBytes,
        }),
    });
  }

  // Phase 1: inspect everything, so a conflict is reported before anything is touched.
  for (const plan of plans) {
    let info: StreamInfo | undefined;
    try {
      info = await streamInfo(jsm, plan.stream);
    } catch (err) {
      throw failed(plan.kind, plan.name, err);
    }
    if (info !== undefined) diff(plan, info.config);
  }
  const conflicts = plans.flatMap((p) => p.conflicts);
  if (conflicts.length > 0) {
    const err = conflictError(conflicts);
    log?.error({ err, conflicts }, 'jetstream topology conflict');
    throw err;
  }

  // Phase 2: apply.
  const items: TopologyItemResult[] = [];
  for (const plan of plans) {
    const result = await apply(jsm, plan);
    items.push(result);
    if (result.action !== 'unchanged') log?.info({ topology: result }, `jetstream ${plan.kind} ${result.action}`);
  }
  const summary: TopologySummary = { items, streams: {}, buckets: {} };
  const rank: Record<TopologyAction, number> = { unchanged: 0, updated: 1, created: 2 };
  for (const it of items) {
    if (it.kind === 'kv') summary.buckets[it.name as KvBucketName] = it.action;
    else {
      // The partition streams report as their group: the most that happened to any of them.
      const group = streamGroup(it.name) as StreamName;
      const before = summary.streams[group];
      if (before === undefined || rank[it.action] > rank[before]) summary.streams[group] = it.action;
    }
  }
  log?.debug({ items }, 'jetstream topology ensured');
  return summary;
}

/** The selection name of a declared stream: `ORDERS` for every partition stream, else its own name. */
function streamGroup(name: string): string {
  return parseOrderStreamName(name) === undefined ? name : STREAMS.ORDERS;
}

/** The order streams' vp assignment, a failure to read it reported as the topology's own error. */
async function readAssignmentOrFail(jsm: JetStreamManager): Promise<Awaited<ReturnType<typeof readOrderStreamAssignment>>> {
  try {
    return await readOrderStreamAssignment(jsm);
  } catch (err) {
    throw failed('stream', STREAMS.ORDERS, err);
  }
}

/**
 * `ensureTopology` creates missing partition streams and updates their limits, but never moves a
 * vp: a legacy `ORDERS` that still captures `orders.>`, or partition streams owning other vps than
 * `vp mod P` declares, are refused before anything changes — moving vps is
 * `orderwire-auth topology repartition`'s job (it also moves the display consumers).
 */
async function checkOrderPartitions(jsm: JetStreamManager, partitions: number, log: Logger | undefined): Promise<void> {
  const assignment = await readAssignmentOrFail(jsm);
  if (legacyCapturesOrders(assignment.legacy)) {
    const err = PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_LEGACY_ORDERS', { subjects: (assignment.legacy?.config.subjects ?? []).join(', ') });
    log?.error({ err }, 'jetstream topology: legacy ORDERS stream');
    throw err;
  }
  const wrong: string[] = [];
  for (const [name, vps] of assignment.streams) {
    const index = parseOrderStreamName(name)!;
    const want = index < partitions ? declaredPartitionVps(index, partitions) : [];
    if (vps.length !== want.length || vps.some((v, i) => v !== want[i])) wrong.push(`${name} owns ${vps.length} vps, declared ${want.length}`);
  }
  for (const f of assignment.foreign) wrong.push(`${f.stream} captures ${f.subject}`);
  if (wrong.length === 0) return;
  const err = PLATFORM_ERRORS.create(
    'ORDERWIRE_ERR_TOPOLOGY_PARTITIONS',
    { found: `${assignment.streams.size} streams; ${wrong.slice(0, 4).join('; ')}${wrong.length > 4 ? '; …' : ''}`, declared: String(partitions) },
    { details: { streams: Object.fromEntries(assignment.streams), wrong } },
  );
  log?.error({ err }, 'jetstream topology: order partitions differ');
  throw err;
}

async function apply(jsm: JetStreamManager, plan: StreamPlan): Promise<TopologyItemResult> {
  try {
    if (plan.existing === undefined) {
      try {
        await plan.create();
        return { kind: plan.kind, name: plan.name, action: 'created' };
      } catch (err) {
        // Another service created it between our inspection and now: compare again.
        if (!isJetStreamApiError(err, JS_API_CODES.StreamNameInUse)) throw err;
        const info = await streamInfo(jsm, plan.stream);
        if (info === undefined) throw err;
        diff(plan, info.config);
        if (plan.conflicts.length > 0) throw conflictError(plan.conflicts);
      }
    }
    if (plan.changed.length === 0) return { kind: plan.kind, name: plan.name, action: 'unchanged' };
    await jsm.streams.update(plan.stream, updateConfig(plan));
    return { kind: plan.kind, name: plan.name, action: 'updated', changed: [...plan.changed] };
  } catch (err) {
    if (PLATFORM_ERRORS.is(err)) throw err;
    throw failed(plan.kind, plan.name, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Display consumers: one durable pull consumer per display, its mailbox.

/**
 * How long a delivery nobody acked (its edge died) waits before redelivery. It must exceed the
 * edge's display ack timeout (10 s) plus its server-ack timeout (5 s), or a slow but healthy
 * display would see redeliveries; every second above that is added to recovery after an edge crash.
 * @default 20 s
 */
export const DEFAULT_DISPLAY_ACK_WAIT_MS = 20 * SECOND;
/** 256 unacked messages per display. */
export const DEFAULT_DISPLAY_MAX_ACK_PENDING = 256;
/**
 * Safety net only: the edge terminates messages a connected display rejects, and an offline
 * display is not pulled from, so redeliveries do not accumulate while it is away.
 * @default 50
 */
export const DEFAULT_DISPLAY_MAX_DELIVER = 50;

export interface DisplayRef {
  tenant: string;
  store: string;
  displayId: string;
  stations: readonly string[];
}

export interface DisplayConsumerOptions {
  /** @default DEFAULT_DISPLAY_ACK_WAIT_MS */
  ackWaitMs?: number;
  /** @default DEFAULT_DISPLAY_MAX_ACK_PENDING */
  maxAckPending?: number;
  /** @default DEFAULT_DISPLAY_MAX_DELIVER */
  maxDeliver?: number;
  /**
   * Redelivery delays in ms; fewer entries than `maxDeliver`. When set, the first entry is also
   * the ack wait (JetStream's rule). @default none (ack_wait each time)
   */
  backoffMs?: readonly number[];
  /**
   * The order stream to create the consumer on, when the caller knows it (a repartition).
   * @default the stream owning the display's store's vp now (`orderStreamFor`)
   */
  stream?: string;
  /** Deliver from this stream sequence instead of new messages only (a repartition's new mailbox). */
  optStartSeq?: number;
  /** More owner metadata to record (a repartition's `retiringFrom`). */
  extraMetadata?: Readonly<Record<string, string>>;
  /**
   * The caller has reason to think the consumer does not exist yet (a display with no registry
   * record): create it straight away, one API request instead of an info and a create. When the
   * name is taken after all, it falls back to the checks and updates of an existing consumer.
   * @default false
   */
  expectNew?: boolean;
}

/** The order stream a display's mailbox belongs on: `opts.stream`, else the owner of its vp now. */
async function displayStream(jsm: JetStreamManager, display: Pick<DisplayRef, 'tenant' | 'store' | 'displayId'>, stream: string | undefined): Promise<string> {
  if (stream !== undefined) return stream;
  let found: string | undefined;
  try {
    found = await orderStreamFor(jsm, display.tenant, display.store);
  } catch (err) {
    throw failed('consumer', displayConsumerName(display.tenant, display.displayId), err);
  }
  if (found === undefined) {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_NO_ORDER_STREAM', { vp: orderPartitionSubject(orderPartition(display.tenant, display.store)) });
  }
  return found;
}

export type DisplayConsumerConfig = Partial<ConsumerConfig> &
  Pick<
    ConsumerConfig,
    'ack_policy' | 'deliver_policy' | 'replay_policy' | 'durable_name' | 'filter_subjects' | 'ack_wait' | 'max_ack_pending' | 'max_deliver'
  > & { durable_name: string; filter_subjects: string[]; metadata: Record<string, string> };

/** The owner metadata of a display's mailbox (contracts `DISPLAY_CONSUMER_METADATA`). */
export function displayConsumerMetadata(display: Pick<DisplayRef, 'tenant' | 'store' | 'displayId'>): Record<string, string> {
  return {
    [DISPLAY_CONSUMER_METADATA.tenant]: display.tenant,
    [DISPLAY_CONSUMER_METADATA.displayId]: display.displayId,
    [DISPLAY_CONSUMER_METADATA.store]: display.store,
  };
}

/**
 * Whether an existing consumer is the mailbox of (tenant, displayId): its owner metadata names
 * exactly them. A consumer without that metadata was not created by this code (or predates it
 * under the legacy name), so it is never treated as ours.
 */
export function displayConsumerOwner(info: ConsumerInfo): { tenant: string; displayId: string; store?: string } | undefined {
  const md = info.config.metadata;
  const tenant = md?.[DISPLAY_CONSUMER_METADATA.tenant];
  const displayId = md?.[DISPLAY_CONSUMER_METADATA.displayId];
  if (tenant === undefined || displayId === undefined) return undefined;
  const store = md?.[DISPLAY_CONSUMER_METADATA.store];
  return store === undefined ? { tenant, displayId } : { tenant, displayId, store };
}

function assertOwner(info: ConsumerInfo, name: string, tenant: string, displayId: string): void {
  const owner = displayConsumerOwner(info);
  if (owner?.tenant === tenant && owner.displayId === displayId) return;
  throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER', {
    name,
    owner: owner === undefined ? 'no recorded owner' : `tenant ${owner.tenant} display ${owner.displayId}`,
    tenant,
    displayId,
  });
}

/**
 * The durable pull consumer of one display. No `inactive_threshold`: the mailbox must survive
 * the display being offline for days. Its metadata names its owner, checked before any change.
 */
export function displayConsumerConfig(display: DisplayRef, opts: DisplayConsumerOptions = {}): DisplayConsumerConfig {
  const maxDeliver = opts.maxDeliver ?? DEFAULT_DISPLAY_MAX_DELIVER;
  const cfg: DisplayConsumerConfig = {
    durable_name: displayConsumerName(display.tenant, display.displayId),
    filter_subjects: displayFilterSubjects(display.tenant, display.store, display.displayId, display.stations),
    metadata: displayConsumerMetadata(display),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(opts.ackWaitMs ?? DEFAULT_DISPLAY_ACK_WAIT_MS),
    max_ack_pending: opts.maxAckPending ?? DEFAULT_DISPLAY_MAX_ACK_PENDING,
    max_deliver: maxDeliver,
  };
  if (opts.optStartSeq !== undefined) {
    cfg.deliver_policy = DeliverPolicy.StartSequence;
    cfg.opt_start_seq = opts.optStartSeq;
  }
  if (opts.extraMetadata !== undefined) cfg.metadata = { ...opts.extraMetadata, ...cfg.metadata };
  if (opts.backoffMs !== undefined && opts.backoffMs.length > 0) {
    if (maxDeliver !== -1 && opts.backoffMs.length >= maxDeliver) {
      throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', {
        kind: 'consumer',
        name: cfg.durable_name,
        reason: 'backoff must have fewer entries than max_deliver',
      });
    }
    cfg.backoff = opts.backoffMs.map((ms) => nanos(ms));
    // The server replaces ack_wait by the first backoff step; declare what it will store.
    cfg.ack_wait = cfg.backoff[0]!;
  }
  return cfg;
}

/** Consumer fields that may be updated in place; the rest conflict if they differ. */
const UPDATABLE_CONSUMER_FIELDS = ['filter_subjects', 'ack_wait', 'max_ack_pending', 'max_deliver', 'backoff'] as const;
const IMMUTABLE_CONSUMER_FIELDS = ['ack_policy', 'deliver_policy'] as const;

export interface EnsureConsumerResult {
  action: TopologyAction;
  changed?: string[];
  info: ConsumerInfo;
}

/**
 * Creates the display's consumer, or updates its filter subjects and limits — but only a
 * consumer whose owner metadata names this (tenant, display): anything else under the name is
 * refused with ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER and left exactly as it is.
 */
export async function ensureDisplayConsumer(
  jsm: JetStreamManager,
  display: DisplayRef,
  opts: DisplayConsumerOptions = {},
): Promise<EnsureConsumerResult & { stream: string }> {
  const stream = await displayStream(jsm, display, opts.stream);
  return { ...(await ensureDisplayConsumerOn(jsm, stream, display, opts)), stream };
}

async function ensureDisplayConsumerOn(
  jsm: JetStreamManager,
  stream: string,
  display: DisplayRef,
  opts: DisplayConsumerOptions,
): Promise<EnsureConsumerResult> {
  const cfg = displayConsumerConfig(display, opts);
  const name = cfg.durable_name;
  if (opts.expectNew === true) {
    let info: ConsumerInfo | undefined;
    try {
      // `action: create` succeeds on an absent name, or on one holding exactly this config
      // (owner metadata included); anything else under the name is refused and checked below.
      info = await jsm.consumers.add(stream, cfg);
    } catch (err) {
      if (!isJetStreamApiError(err, JS_API_CODES.ConsumerAlreadyExists)) throw failed('consumer', name, err);
    }
    if (info !== undefined) {
      assertOwner(info, name, display.tenant, display.displayId);
      return { action: 'created', info };
    }
  }
  let existing: ConsumerInfo | undefined;
  try {
    existing = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound)) throw failed('consumer', name, err);
  }
  try {
    if (existing === undefined) {
      // A create, never an update: if the name was taken meanwhile the server refuses
      // (`action: create` fails on an existing consumer with a different config).
      const info = await jsm.consumers.add(stream, cfg);
      assertOwner(info, name, display.tenant, display.displayId);
      return { action: 'created', info };
    }
    assertOwner(existing, name, display.tenant, display.displayId);
    const have = existing.config as unknown as Record<string, unknown>;
    const want = cfg as unknown as Record<string, unknown>;
    // A mailbox migrated from a legacy name resumes at a stream sequence; that is its
    // deliver policy from then on, and the same mailbox.
    // So is a mailbox a repartition created on the stream its vp moved to (its owner is checked above).
    const migrated = existing.config.deliver_policy === DeliverPolicy.StartSequence;
    const conflicts: TopologyConflict[] = IMMUTABLE_CONSUMER_FIELDS.filter(
      (f) => !sameValue(have[f], want[f]) && !(migrated && f === 'deliver_policy'),
    ).map((f) => ({
      kind: 'consumer',
      name,
      field: f,
      existing: have[f],
      declared: want[f],
    }));
    if (conflicts.length > 0) throw conflictError(conflicts);
    const changed: string[] = UPDATABLE_CONSUMER_FIELDS.filter((f) => {
      // An absent backoff on both sides is equal; the server omits it when empty.
      if (f === 'backoff' && want[f] === undefined) return have[f] !== undefined && (have[f] as unknown[]).length > 0;
      return !sameValue(have[f], want[f]);
    });
    // The store lives in the metadata too: a display moved to another store updates it.
    if (!sameValue(have.metadata, want.metadata)) changed.push('metadata');
    if (changed.length === 0) return { action: 'unchanged', info: existing };
    const update: Record<string, unknown> = {};
    for (const f of changed) update[f] = want[f] ?? (f === 'backoff' ? [] : undefined);
    // Keep what else the metadata records (the migration's provenance).
    if (changed.includes('metadata')) update.metadata = { ...(have.metadata as Record<string, string> | undefined), ...cfg.metadata };
    const info = await jsm.consumers.update(stream, name, update);
    return { action: 'updated', changed: [...changed], info };
  } catch (err) {
    if (PLATFORM_ERRORS.is(err)) throw err;
    throw failed('consumer', name, err);
  }
}

/**
 * Deletes a display's consumer; returns false if it did not exist. A consumer under the name
 * whose owner metadata names someone else is refused (ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER).
 * Without `opts.stream` it deletes the display's mailbox on every order stream (a display has
 * two for a while after a partition move, and its record may name a store it has left).
 */
export async function deleteDisplayConsumer(
  jsm: JetStreamManager,
  tenant: string,
  displayId: string,
  opts: { stream?: string } = {},
): Promise<boolean> {
  if (opts.stream !== undefined) return deleteDisplayConsumerOn(jsm, opts.stream, tenant, displayId);
  let streams: string[];
  try {
    streams = [...(await listOrderStreams(jsm)), LEGACY_ORDERS_STREAM];
  } catch (err) {
    throw failed('consumer', displayConsumerName(tenant, displayId), err);
  }
  let deleted = false;
  for (const stream of streams) if (await deleteDisplayConsumerOn(jsm, stream, tenant, displayId)) deleted = true;
  return deleted;
}

async function deleteDisplayConsumerOn(jsm: JetStreamManager, stream: string, tenant: string, displayId: string): Promise<boolean> {
  const name = displayConsumerName(tenant, displayId);
  try {
    assertOwner(await jsm.consumers.info(stream, name), name, tenant, displayId);
    return await jsm.consumers.delete(stream, name);
  } catch (err) {
    if (isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound) || isJetStreamApiError(err, JS_API_CODES.StreamNotFound)) return false;
    if (PLATFORM_ERRORS.is(err)) throw err;
    throw failed('consumer', name, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Verification: what a service checks at start instead of applying anything.

/** What a service needs of one stream. A bare stream name checks existence, subjects and retention. */
export interface StreamRequirement {
  name: StreamName;
  /** Subjects the service publishes to or reads: each must be covered by the stream. @default the declared subjects */
  subjects?: readonly string[];
  /** The service reads by subject with direct get: `allow_direct` must be on. @default false */
  allowDirect?: boolean;
  /** The service wakes on the declared republish (ORDERS' doorbells): it must be there as declared. @default false */
  republish?: boolean;
}

/** What a service needs of one KV bucket. */
export interface BucketRequirement {
  bucket: KvBucketName;
  /** The service keeps entries this long: the bucket TTL must be 0 (forever) or at least this; `env` names the setting. */
  minTtl?: { ms: number; env: string };
}

export interface TopologyRequirements {
  /** Named in the error, so the operator knows whose start failed. */
  service: string;
  streams?: readonly (StreamName | StreamRequirement)[];
  buckets?: readonly (KvBucketName | BucketRequirement)[];
}

export interface TopologyMismatch {
  kind: 'stream' | 'kv';
  name: string;
  /** `exists` when missing, else the server's field name. */
  field: string;
  existing: unknown;
  required: string;
}

/** Does subject pattern `a` match every subject that pattern `b` can match? */
function covers(a: string, b: string): boolean {
  const at = a.split('.');
  const bt = b.split('.');
  for (let i = 0; i < at.length; i++) {
    if (at[i] === '>') return i < bt.length;
    if (i >= bt.length) return false;
    if (bt[i] === '>') return false;
    if (at[i] !== '*' && at[i] !== bt[i]) return false;
  }
  return at.length === bt.length;
}

function checkStream(req: StreamRequirement, decl: StreamDeclaration, cfg: StreamConfig, out: TopologyMismatch[]): void {
  const push = (field: string, existing: unknown, required: string): void => {
    out.push({ kind: 'stream', name: req.name, field, existing, required });
  };
  if (cfg.mirror !== undefined) push('mirror', cfg.mirror.name, 'not a mirror');
  const have = cfg.subjects ?? [];
  const missing = (req.subjects ?? decl.subjects).filter((s) => !have.some((h) => covers(h, s)));
  if (missing.length > 0) push('subjects', have, `subjects covering ${missing.join(', ')}`);
  if (cfg.retention !== decl.retention) push('retention', cfg.retention, decl.retention);
  if (req.allowDirect === true && cfg.allow_direct !== true) push('allow_direct', cfg.allow_direct ?? false, 'true');
  if (req.republish === true && decl.republish !== undefined && !sameValue(cfg.republish, decl.republish)) {
    push('republish', cfg.republish ?? 'none', show(decl.republish));
  }
}

function checkBucket(req: BucketRequirement, cfg: StreamConfig, out: TopologyMismatch[]): void {
  const maxAgeMs = millis(cfg.max_age ?? 0);
  if (req.minTtl !== undefined && maxAgeMs !== 0 && maxAgeMs < req.minTtl.ms) {
    out.push({
      kind: 'kv',
      name: req.bucket,
      field: 'max_age',
      existing: `${maxAgeMs} ms`,
      required: `0 or >= ${req.minTtl.ms} ms (${req.minTtl.env})`,
    });
  }
}

/** The order partition streams as a service needs them: adopted (no legacy `ORDERS` on `orders.>`), present, each compatible. */
async function checkOrderStreams(jsm: JetStreamManager, req: StreamRequirement, out: TopologyMismatch[]): Promise<void> {
  const assignment = await readAssignmentOrFail(jsm);
  if (legacyCapturesOrders(assignment.legacy)) {
    out.push({
      kind: 'stream',
      name: LEGACY_ORDERS_STREAM,
      field: 'subjects',
      existing: assignment.legacy?.config.subjects,
      required: 'adopted into partition streams (orderwire-auth topology repartition)',
    });
  }
  if (assignment.streams.size === 0) {
    out.push({ kind: 'stream', name: STREAMS.ORDERS, field: 'exists', existing: 'missing', required: 'present' });
    return;
  }
  const template = orderStreamDeclarationFor(0);
  for (const name of assignment.streams.keys()) {
    const cfg = await jsm.streams.info(name).then(
      (i) => i.config,
      (err: unknown) => {
        throw failed('stream', name, err);
      },
    );
    // Which vps a stream owns is the repartition's business; every other requirement holds per stream.
    checkStream({ ...req, name: name as StreamName, subjects: cfg.subjects }, { ...template, name }, cfg, out);
  }
}

/**
 * Checks that every stream and bucket a service needs exists with settings it can work with,
 * and changes nothing. Settings the service does not depend on (replicas, max ages of data it
 * does not keep, max_bytes, …) are the owner's business and are not checked.
 * @throws ORDERWIRE_ERR_TOPOLOGY_MISMATCH naming every item and field that does not fit
 * @throws ORDERWIRE_ERR_TOPOLOGY_FAILED when the server cannot be asked
 */
export async function verifyTopology(nc: NatsConnection, requirements: TopologyRequirements): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const decls = new Map(streamDeclarations().map((d) => [d.name, d]));
  const mismatches: TopologyMismatch[] = [];
  const info = async (kind: 'stream' | 'kv', name: string, stream: string): Promise<StreamConfig | undefined> => {
    try {
      const i = await streamInfo(jsm, stream);
      if (i === undefined) mismatches.push({ kind, name, field: 'exists', existing: 'missing', required: 'present' });
      return i?.config;
    } catch (err) {
      throw failed(kind, name, err);
    }
  };
  for (const r of requirements.streams ?? []) {
    const req: StreamRequirement = typeof r === 'string' ? { name: r } : r;
    if (req.name === STREAMS.ORDERS) {
      await checkOrderStreams(jsm, req, mismatches);
      continue;
    }
    const cfg = await info('stream', req.name, req.name);
    if (cfg !== undefined) checkStream(req, decls.get(req.name)!, cfg, mismatches);
  }
  for (const r of requirements.buckets ?? []) {
    const req: BucketRequirement = typeof r === 'string' ? { bucket: r } : r;
    const cfg = await info('kv', req.bucket, kvStreamName(req.bucket));
    if (cfg !== undefined) checkBucket(req, cfg, mismatches);
  }
  if (mismatches.length === 0) return;
  const summary = mismatches
    .map((m) => `${m.kind} ${m.name} ${m.field}: ${m.field === 'exists' ? 'missing' : `is ${show(m.existing)}, needs ${m.required}`}`)
    .join('; ');
  throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_MISMATCH', { service: requirements.service, summary }, { details: { mismatches } });
}
