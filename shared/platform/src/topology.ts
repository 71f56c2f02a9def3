/**
 * The JetStream topology, declared in ONE place: every stream, every KV bucket and the display
 * consumer template. `ensureTopology` makes the server match the declaration at startup:
 * creates what is missing, updates what JetStream can change in place, and refuses (with
 * ORDERWIRE_ERR_TOPOLOGY_CONFLICT, before changing anything) when an existing item differs in
 * a field JetStream cannot change — e.g. storage type — because silently recreating a stream
 * would delete the orders in it.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
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
import type { NatsConnection } from '@nats-io/nats-core';
import { ORDER_RING_PREFIX, ORDERS_SUBJECT_PREFIX, displayConsumerName, displayFilterSubjects } from '@orderwire/contracts';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';

const MS = 1;
const SECOND = 1_000 * MS;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NS_PER_MS = 1_000_000;

/** JetStream API error codes we branch on. */
const JS_STREAM_NOT_FOUND = 10059;
const JS_CONSUMER_NOT_FOUND = 10014;
const JS_STREAM_NAME_IN_USE = 10058;

/** Stream names (contract: services address streams by these). */
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
} as const);
export type KvBucketName = (typeof KV_BUCKETS)[keyof typeof KV_BUCKETS];

/** Advisory subjects captured by the ADVISORIES stream (advisories are core NATS, at-most-once). */
export const ADVISORY_SUBJECTS = Object.freeze({
  maxDeliveries: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${STREAMS.ORDERS}.>`,
  terminated: `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${STREAMS.ORDERS}.>`,
} as const);

/** Defaults of `TopologyOptions` (ms unless named otherwise). */
export const TOPOLOGY_DEFAULTS = Object.freeze({
  replicas: 1,
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
  /** @default 7 d */
  receiptsMaxAgeMs: 7 * DAY,
  /** @default 7 d */
  advisoriesMaxAgeMs: 7 * DAY,
  /** 0 = kept until discarded or replayed. @default 0 */
  dlqMaxAgeMs: 0,
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
   * Lifetime of a revoked-client entry: longer than the longest client token can live
   * (AUTH_CLIENT_TOKEN_TTL ≤ 24 h, plus clock tolerance), so no token outlives its revocation.
   * @default 25 h
   */
  revokedClientsTtlMs: 25 * HOUR,
});

export interface TopologyOptions {
  /** Replicas of every stream and bucket (3 in a production cluster). @default 1 */
  replicas?: number;
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
  revokedClientsTtlMs?: number;
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
  const common = { storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: o.replicas };
  return [
    {
      ...common,
      name: STREAMS.ORDERS,
      description: 'Orders for displays: station-wide and per-display subjects',
      subjects: ['orders.>'],
      max_age: o.ordersMaxAgeMs * NS_PER_MS,
      duplicate_window: o.ordersDuplicateWindowMs * NS_PER_MS,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      max_msg_size: o.ordersMaxMsgSize,
      max_consumers: o.ordersMaxConsumers,
      // Doorbells for the edges, sent after the store (see ORDER_RING_PREFIX in contracts).
      republish: { src: `${ORDERS_SUBJECT_PREFIX}.>`, dest: `${ORDER_RING_PREFIX}.${ORDERS_SUBJECT_PREFIX}.>`, headers_only: true },
    },
    {
      ...common,
      name: STREAMS.RECEIPTS,
      description: 'Latest delivery status per order and display',
      subjects: ['receipts.>'],
      max_msgs_per_subject: 1,
      max_age: o.receiptsMaxAgeMs * NS_PER_MS,
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.ADVISORIES,
      description: 'Durable copy of max-deliveries and terminated advisories of ORDERS',
      subjects: [ADVISORY_SUBJECTS.maxDeliveries, ADVISORY_SUBJECTS.terminated],
      max_age: o.advisoriesMaxAgeMs * NS_PER_MS,
    },
    {
      ...common,
      name: STREAMS.DLQ,
      description: 'Latest state of each dead-lettered order',
      subjects: ['dlq.>'],
      max_msgs_per_subject: 1,
      max_age: o.dlqMaxAgeMs * NS_PER_MS,
      allow_direct: true,
    },
    {
      ...common,
      name: STREAMS.AUDIT,
      description: 'Append-only audit log',
      subjects: ['audit.>'],
      deny_delete: true,
      deny_purge: true,
      max_age: o.auditMaxAgeMs * NS_PER_MS,
    },
  ];
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

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isApiError(err, JS_STREAM_NOT_FOUND)) return undefined;
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

  const plans: StreamPlan[] = [];
  for (const decl of streamDeclarations(opts)) {
    if (wantStreams !== undefined && !wantStreams.has(decl.name)) continue;
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
        max_age: kv.ttlMs * NS_PER_MS,
        num_replicas: kv.replicas,
        description: kv.description,
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
  for (const it of items) {
    if (it.kind === 'stream') summary.streams[it.name as StreamName] = it.action;
    else summary.buckets[it.name as KvBucketName] = it.action;
  }
  log?.debug({ items }, 'jetstream topology ensured');
  return summary;
}

async function apply(jsm: JetStreamManager, plan: StreamPlan): Promise<TopologyItemResult> {
  try {
    if (plan.existing === undefined) {
      try {
        await plan.create();
        return { kind: plan.kind, name: plan.name, action: 'created' };
      } catch (err) {
        // Another service created it between our inspection and now: compare again.
        if (!isApiError(err, JS_STREAM_NAME_IN_USE)) throw err;
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
/** @default 256 unacked messages per display. */
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
  /** @default STREAMS.ORDERS */
  stream?: string;
}

export type DisplayConsumerConfig = Partial<ConsumerConfig> &
  Pick<
    ConsumerConfig,
    'ack_policy' | 'deliver_policy' | 'replay_policy' | 'durable_name' | 'filter_subjects' | 'ack_wait' | 'max_ack_pending' | 'max_deliver'
  > & { durable_name: string; filter_subjects: string[] };

/**
 * The durable pull consumer of one display. No `inactive_threshold`: the mailbox must survive
 * the display being offline for days.
 */
export function displayConsumerConfig(display: DisplayRef, opts: DisplayConsumerOptions = {}): DisplayConsumerConfig {
  const maxDeliver = opts.maxDeliver ?? DEFAULT_DISPLAY_MAX_DELIVER;
  const cfg: DisplayConsumerConfig = {
    durable_name: displayConsumerName(display.tenant, display.displayId),
    filter_subjects: displayFilterSubjects(display.tenant, display.store, display.displayId, display.stations),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: (opts.ackWaitMs ?? DEFAULT_DISPLAY_ACK_WAIT_MS) * NS_PER_MS,
    max_ack_pending: opts.maxAckPending ?? DEFAULT_DISPLAY_MAX_ACK_PENDING,
    max_deliver: maxDeliver,
  };
  if (opts.backoffMs !== undefined && opts.backoffMs.length > 0) {
    if (maxDeliver !== -1 && opts.backoffMs.length >= maxDeliver) {
      throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOPOLOGY_FAILED', {
        kind: 'consumer',
        name: cfg.durable_name,
        reason: 'backoff must have fewer entries than max_deliver',
      });
    }
    cfg.backoff = opts.backoffMs.map((ms) => ms * NS_PER_MS);
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

/** Creates the display's consumer, or updates its filter subjects and limits. */
export async function ensureDisplayConsumer(
  jsm: JetStreamManager,
  display: DisplayRef,
  opts: DisplayConsumerOptions = {},
): Promise<EnsureConsumerResult> {
  const stream = opts.stream ?? STREAMS.ORDERS;
  const cfg = displayConsumerConfig(display, opts);
  const name = cfg.durable_name;
  let existing: ConsumerInfo | undefined;
  try {
    existing = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isApiError(err, JS_CONSUMER_NOT_FOUND)) throw failed('consumer', name, err);
  }
  try {
    if (existing === undefined) {
      return { action: 'created', info: await jsm.consumers.add(stream, cfg) };
    }
    const have = existing.config as unknown as Record<string, unknown>;
    const want = cfg as unknown as Record<string, unknown>;
    const conflicts: TopologyConflict[] = IMMUTABLE_CONSUMER_FIELDS.filter((f) => !sameValue(have[f], want[f])).map((f) => ({
      kind: 'consumer',
      name,
      field: f,
      existing: have[f],
      declared: want[f],
    }));
    if (conflicts.length > 0) throw conflictError(conflicts);
    const changed = UPDATABLE_CONSUMER_FIELDS.filter((f) => {
      // An absent backoff on both sides is equal; the server omits it when empty.
      if (f === 'backoff' && want[f] === undefined) return have[f] !== undefined && (have[f] as unknown[]).length > 0;
      return !sameValue(have[f], want[f]);
    });
    if (changed.length === 0) return { action: 'unchanged', info: existing };
    const update: Record<string, unknown> = {};
    for (const f of changed) update[f] = want[f] ?? (f === 'backoff' ? [] : undefined);
    const info = await jsm.consumers.update(stream, name, update);
    return { action: 'updated', changed: [...changed], info };
  } catch (err) {
    if (PLATFORM_ERRORS.is(err)) throw err;
    throw failed('consumer', name, err);
  }
}

/** Deletes a display's consumer; returns false if it did not exist. */
export async function deleteDisplayConsumer(
  jsm: JetStreamManager,
  tenant: string,
  displayId: string,
  opts: { stream?: string } = {},
): Promise<boolean> {
  const name = displayConsumerName(tenant, displayId);
  try {
    return await jsm.consumers.delete(opts.stream ?? STREAMS.ORDERS, name);
  } catch (err) {
    if (isApiError(err, JS_CONSUMER_NOT_FOUND)) return false;
    throw failed('consumer', name, err);
  }
}
