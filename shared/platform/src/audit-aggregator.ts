/**
 * Aggregated audit events: many similar occurrences (failed authentications, DLQ reads) become
 * ONE audit event per (tenant, event, source, actor) per window, with a count per reason, instead
 * of one event per request. AUDIT denies delete and purge, so one event per anonymous failed call
 * would let anyone fill JetStream's disk; aggregated, a flood from one address costs one event a
 * minute, and memory stays bounded: at most `maxKeys` distinct keys per window, everything beyond
 * counted in one overflow bucket per event name (`source: "_overflow"`).
 *
 * Events per window ≤ `maxKeys` + the number of event names in use. Every service uses this one
 * aggregator (auth, ingest, dlq, edge) so the event shape is the same everywhere:
 *
 *   { v: 1, id, event, tenant, at, service, instance, aggregated: true,
 *     source, actor?, window: { from, to }, count, reasons: { <reason>: n },
 *     samples: [...up to maxSamples ids], samplesDropped }
 *
 * Delivery: published to `audit.<tenant>.<event>` with the PubAck awaited at each flush. A failed
 * publish is logged at error level with the whole event and counted — never silent, never retried
 * (retrying would keep the memory the window was meant to bound).
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { AUDIT_SUBJECT_PREFIX, isValidId } from '@orderwire/contracts';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/** 60000 ms — one aggregated event per key per minute. */
export const DEFAULT_AUDIT_WINDOW_MS = 60_000;
/** 1000 distinct (tenant, event, source, actor) keys per window before the overflow bucket. */
export const DEFAULT_AUDIT_MAX_KEYS = 1_000;
/** 20 sample ids (client ids, display ids, entry ids) kept per aggregated event. */
export const DEFAULT_AUDIT_MAX_SAMPLES = 20;
/** 5000 ms to wait for each PubAck at flush. */
export const DEFAULT_AUDIT_PUBLISH_TIMEOUT_MS = 5_000;
/** Tenant token of events that belong to no (known) tenant. */
export const AUDIT_SYSTEM_TENANT = '_system';
/** `source` of the bucket that counts what arrived after `maxKeys` distinct keys. */
export const AUDIT_OVERFLOW_SOURCE = '_overflow';
/** Longest source / actor / reason / sample kept (they come from requests: addresses, ids). */
const MAX_FIELD_LENGTH = 128;
/** Distinct reasons per key; reasons are closed sets in code, this only guards against misuse. */
const MAX_REASONS = 32;

export interface AuditActorRef {
  type: 'client' | 'display' | 'anonymous';
  id?: string;
}

export interface AuditOccurrence {
  /** Event name, a closed set per service (e.g. `auth_failures`, `dlq_reads`). */
  event: string;
  /** Tenant when known and valid; otherwise the event goes to `_system`. */
  tenant?: string | undefined;
  /** Where it came from: the client address for failures, the client id for reads. */
  source: string;
  actor?: AuditActorRef | undefined;
  /** Bounded label: failure reason / operation. */
  reason: string;
  /** An id worth keeping a few of (client id, display id, entry id). */
  sample?: string | undefined;
}

export interface AggregatedAuditEvent {
  v: 1;
  id: string;
  event: string;
  tenant: string;
  at: string;
  service: string;
  instance: string;
  aggregated: true;
  source: string;
  actor?: AuditActorRef;
  window: { from: string; to: string };
  count: number;
  reasons: Record<string, number>;
  samples: string[];
  samplesDropped: number;
}

export interface AuditAggregatorOptions {
  js: JetStreamClient;
  service: string;
  instance: string;
  logger: Logger;
  metrics: Metrics;
  windowMs?: number;
  maxKeys?: number;
  maxSamples?: number;
  publishTimeoutMs?: number;
}

export interface AuditAggregator {
  /** Counts one occurrence. Synchronous and allocation-light: safe on a hot refusal path. */
  note(occurrence: AuditOccurrence): void;
  /** Publishes the current window now (one event per key) and starts a new one. */
  flush(): Promise<void>;
  /** Starts the window timer. */
  start(): void;
  /** Stops the timer and flushes what is pending. */
  stop(): Promise<void>;
  /** Distinct keys in the current window (tests, metrics). */
  readonly keys: number;
}

interface Bucket {
  tenant: string;
  event: string;
  source: string;
  actor?: AuditActorRef;
  count: number;
  reasons: Map<string, number>;
  samples: Set<string>;
  samplesDropped: number;
}

function clip(value: string): string {
  return value.length > MAX_FIELD_LENGTH ? value.slice(0, MAX_FIELD_LENGTH) : value;
}

export function createAuditAggregator(options: AuditAggregatorOptions): AuditAggregator {
  const {
    js,
    service,
    instance,
    logger,
    windowMs = DEFAULT_AUDIT_WINDOW_MS,
    maxKeys = DEFAULT_AUDIT_MAX_KEYS,
    maxSamples = DEFAULT_AUDIT_MAX_SAMPLES,
    publishTimeoutMs = DEFAULT_AUDIT_PUBLISH_TIMEOUT_MS,
  } = options;
  const noted = options.metrics.counter({
    name: 'orderwire_audit_occurrences_total',
    help: 'Occurrences counted into aggregated audit events, by event',
    labelNames: ['event'] as const,
  });
  const published = options.metrics.counter({
    name: 'orderwire_audit_aggregated_events_total',
    help: 'Aggregated audit events written to AUDIT, by result (ok, failed)',
    labelNames: ['result'] as const,
  });
  const overflowed = options.metrics.counter({
    name: 'orderwire_audit_overflow_total',
    help: 'Occurrences counted in the overflow bucket because the window held the maximum of distinct keys',
  });
  published.inc({ result: 'ok' }, 0);
  published.inc({ result: 'failed' }, 0);
  overflowed.inc(0);

  let buckets = new Map<string, Bucket>();
  let windowStart = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  function bucketFor(o: AuditOccurrence): Bucket {
    const tenant = o.tenant !== undefined && isValidId(o.tenant) ? o.tenant : AUDIT_SYSTEM_TENANT;
    const source = clip(o.source);
    const actor = o.actor === undefined ? undefined : o.actor.id === undefined ? { type: o.actor.type } : { type: o.actor.type, id: clip(o.actor.id) };
    // JSON of the parts: no separator a field could contain can make two keys collide.
    const key = JSON.stringify([tenant, o.event, source, actor?.type ?? '', actor?.id ?? '']);
    let b = buckets.get(key);
    if (b !== undefined) return b;
    if (buckets.size >= maxKeys) {
      overflowed.inc();
      const overflowKey = JSON.stringify([AUDIT_SYSTEM_TENANT, o.event, AUDIT_OVERFLOW_SOURCE, '', '']);
      b = buckets.get(overflowKey);
      if (b === undefined) {
        b = { tenant: AUDIT_SYSTEM_TENANT, event: o.event, source: AUDIT_OVERFLOW_SOURCE, count: 0, reasons: new Map(), samples: new Set(), samplesDropped: 0 };
        buckets.set(overflowKey, b);
      }
      return b;
    }
    b = { tenant, event: o.event, source, count: 0, reasons: new Map(), samples: new Set(), samplesDropped: 0 };
    if (actor !== undefined) b.actor = actor;
    buckets.set(key, b);
    return b;
  }

  function toEvent(b: Bucket, from: number, to: number): AggregatedAuditEvent {
    const ev: AggregatedAuditEvent = {
      v: 1,
      id: randomUUID(),
      event: b.event,
      tenant: b.tenant,
      at: new Date(to).toISOString(),
      service,
      instance,
      aggregated: true,
      source: b.source,
      window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      count: b.count,
      reasons: Object.fromEntries(b.reasons),
      samples: [...b.samples],
      samplesDropped: b.samplesDropped,
    };
    if (b.actor !== undefined) ev.actor = b.actor;
    return ev;
  }

  async function publish(ev: AggregatedAuditEvent): Promise<void> {
    try {
      await js.publish(`${AUDIT_SUBJECT_PREFIX}.${ev.tenant}.${ev.event}`, JSON.stringify(ev), { msgID: ev.id, timeout: publishTimeoutMs });
      published.inc({ result: 'ok' });
    } catch (err) {
      published.inc({ result: 'failed' });
      logger.error({ err, audit: ev }, 'aggregated audit write failed; event preserved in this log line');
    }
  }

  async function flushNow(): Promise<void> {
    const current = buckets;
    const from = windowStart;
    const to = Date.now();
    buckets = new Map();
    windowStart = to;
    if (current.size === 0) return;
    await Promise.all([...current.values()].map((b) => publish(toEvent(b, from, to))));
  }

  function flush(): Promise<void> {
    // Serialised: a timer flush and a stop() flush never publish the same window twice.
    flushing = flushing.then(flushNow);
    return flushing;
  }

  return {
    note(o) {
      noted.inc({ event: o.event });
      const b = bucketFor(o);
      b.count += 1;
      const reason = clip(o.reason);
      const n = b.reasons.get(reason);
      if (n !== undefined) b.reasons.set(reason, n + 1);
      else if (b.reasons.size < MAX_REASONS) b.reasons.set(reason, 1);
      else b.reasons.set('_other', (b.reasons.get('_other') ?? 0) + 1);
      if (o.sample !== undefined) {
        const s = clip(o.sample);
        if (b.samples.has(s)) return;
        if (b.samples.size < maxSamples) b.samples.add(s);
        else b.samplesDropped += 1;
      }
    },
    flush,
    start() {
      if (timer !== undefined) return;
      windowStart = Date.now();
      timer = setInterval(() => void flush(), windowMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await flush();
    },
    get keys() {
      return buckets.size;
    },
  };
}
