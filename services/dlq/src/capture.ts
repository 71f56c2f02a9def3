/**
 * Capture: a durable pull consumer on ADVISORIES (explicit ack, never gives up) turns every
 * max-deliveries / terminated advisory of an ORDERS display consumer into a DLQ entry.
 *
 * Advisories are core NATS (at-most-once), which is why the ADVISORIES stream stores them; this
 * consumer then reads them at-least-once: while the service is down they wait in the stream, and
 * replicas share the durable consumer. An advisory is acked (and the ack confirmed) only after its
 * entry and the `dead_lettered` receipt are persisted; any failure naks it with a backoff. A
 * repeated advisory finds its failure already recorded (same entry id, sequence not newer than the
 * entry's last failure) and writes nothing.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { CONSUME_EXPIRES_MS, JS_API_CODES, LEGACY_ORDERS_STREAM, STREAMS, isJetStreamApiError, isOrderStream, type Logger } from '@orderwire/platform';
import { classify, parseAdvisory, receiptReason, type Advisory } from './advisory.js';
import { entryIdFor, FAILURES_KEPT, isEntryId, type DlqEntry, type Failure } from './entry.js';
import type { EntryStore, Mutation } from './entry-store.js';
import type { AdvisoryResult, DlqMetrics } from './metrics.js';
import type { ReceiptWriter } from './dead-letter-receipts.js';
import { isDisplayMailbox, type Original, type Resolver, type Target } from './resolve.js';

/** First retry delay of a failed advisory; doubles per delivery up to the configured max. */
export const CAPTURE_RETRY_BASE_MS = 1_000;
/** 1024 advisories handed out and not yet acked, per consumer (all replicas). */
export const CAPTURE_MAX_ACK_PENDING = 1_024;

export interface CaptureOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  store: EntryStore;
  resolver: Resolver;
  receipts: ReceiptWriter;
  metrics: DlqMetrics;
  logger: Logger;
  consumer: string;
  batch: number;
  ackWaitMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  statsIntervalMs: number;
}

export interface Capture {
  /** Ensures the durable consumer and starts consuming. */
  start(): Promise<void>;
  /** Stops pulling, finishes the advisory in hand, hands back the rest (nak). */
  stop(): Promise<void>;
  running(): boolean;
  /** Last read backlog (num_pending) of the consumer; undefined before the first read. */
  pending(): number | undefined;
}

export interface ProcessResult {
  result: AdvisoryResult;
  entryId?: string;
  tenant?: string;
}

/** Highest failed sequence the entry knows in `stream` (sequences of two streams do not compare). */
function lastFailureSeq(e: DlqEntry, stream: string): number {
  const streamOf = (f: Failure): string => f.stream ?? e.stream ?? LEGACY_ORDERS_STREAM;
  return e.failures.reduce((max, f) => (streamOf(f) === stream ? Math.max(max, f.seq) : max), (e.stream ?? LEGACY_ORDERS_STREAM) === stream ? e.seq : 0);
}

function failureOf(a: Advisory): Failure {
  const { reason, detail } = classify(a);
  const f: Failure = {
    stream: a.stream,
    seq: a.streamSeq,
    consumer: a.consumer,
    reason,
    deliveries: a.deliveries,
    at: new Date(a.at).toISOString(),
    advisoryId: a.id,
  };
  if (detail !== undefined) f.detail = detail;
  return f;
}

function newEntry(id: string, a: Advisory, target: Target, original: Original | undefined, now: string): DlqEntry {
  const f = failureOf(a);
  const e: DlqEntry = {
    v: 1,
    id,
    tenant: target.tenant,
    storeId: target.storeId,
    displayId: target.displayId,
    orderId: original?.orderId ?? null,
    subject: original?.stored.subject ?? null,
    stream: a.stream,
    seq: a.streamSeq,
    consumer: a.consumer,
    reason: f.reason,
    deliveryCount: f.deliveries,
    failureCount: 1,
    firstFailedAt: f.at,
    lastFailedAt: f.at,
    failures: [f],
    originalExpired: original === undefined,
    original: original?.stored ?? null,
    status: 'open',
    statusChangedAt: now,
    replayCount: 0,
    traceId: original?.traceId ?? null,
    createdAt: now,
    updatedAt: now,
  };
  if (f.detail !== undefined) e.detail = f.detail;
  return e;
}

/** A replayed copy failed again: the entry is open again with one more failure. */
function reopened(e: DlqEntry, a: Advisory, now: string): DlqEntry {
  const f = failureOf(a);
  const next: DlqEntry = {
    ...e,
    reason: f.reason,
    deliveryCount: f.deliveries,
    failureCount: e.failureCount + 1,
    lastFailedAt: f.at,
    failures: [...e.failures, f].slice(-FAILURES_KEPT),
    status: 'open',
    statusChangedAt: now,
    updatedAt: now,
  };
  delete next.detail;
  if (f.detail !== undefined) next.detail = f.detail;
  return next;
}

interface Recorded {
  result: AdvisoryResult;
  entry: DlqEntry;
}
type Decision = Mutation<Recorded>;

export function createCapture(options: CaptureOptions): Capture {
  const { js, jsm, store, resolver, receipts, metrics, logger } = options;
  const log = logger.child({ component: 'capture', consumer: options.consumer });
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;
  let statsTimer: NodeJS.Timeout | undefined;
  let lastPending: number | undefined;

  async function ensureConsumer(): Promise<void> {
    const config = {
      durable_name: options.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(options.ackWaitMs),
      // Never give up on an advisory: a failure that outlasts every retry is an outage to fix,
      // not an entry to lose.
      max_deliver: -1,
      max_ack_pending: CAPTURE_MAX_ACK_PENDING,
      description: 'DLQ service: turns ORDERS advisories into DLQ entries',
    };
    try {
      const info = await jsm.consumers.info(STREAMS.ADVISORIES, options.consumer);
      if (info.config.ack_wait !== config.ack_wait || info.config.max_ack_pending !== config.max_ack_pending) {
        await jsm.consumers.update(STREAMS.ADVISORIES, options.consumer, {
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending,
        });
      }
    } catch (err) {
      if (!isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound)) throw err;
      await jsm.consumers.add(STREAMS.ADVISORIES, config);
      log.info('capture consumer created');
    }
  }

  async function record(a: Advisory, target: Target, original: Original | undefined): Promise<Recorded> {
    const now = new Date().toISOString();
    // A replayed copy carries the entry it came from: the failure belongs to that entry.
    if (original?.dlqId !== null && original?.dlqId !== undefined && isEntryId(original.dlqId)) {
      const linked = await store.mutate(target.tenant, original.dlqId, (cur): Mutation<Recorded | undefined> => {
        if (cur === undefined) return { result: undefined }; // entry gone: record as a new one
        if (a.streamSeq <= lastFailureSeq(cur.entry, a.stream)) return { result: { result: 'duplicate', entry: cur.entry } };
        const next = reopened(cur.entry, a, now);
        return { write: next, result: { result: 'reopened', entry: next } };
      });
      if (linked.result !== undefined) return linked.result;
    }
    const created = await resolver.ordersCreated(a.stream);
    const id = entryIdFor(a.stream, created, a.streamSeq, a.consumer);
    const outcome = await store.mutate(target.tenant, id, (cur): Decision => {
      if (cur !== undefined) return { result: { result: 'duplicate', entry: cur.entry } };
      const e = newEntry(id, a, target, original, now);
      return { write: e, result: { result: 'captured', entry: e } };
    });
    return outcome.result;
  }

  /** Handles one advisory; throws when it must be retried. */
  async function processAdvisory(data: Uint8Array, subject: string): Promise<ProcessResult> {
    const parsed = parseAdvisory(data);
    if (!parsed.ok) {
      log.warn({ subject, problem: parsed.problem }, 'advisory ignored: not a consumer advisory we understand');
      return { result: 'ignored' };
    }
    const a = parsed.advisory;
    const alog = log.child({ advisoryId: a.id, advisoryConsumer: a.consumer, streamSeq: a.streamSeq });
    // ADVISORIES captures every stream's advisories (the stream token is a wildcard): only order streams' are ours.
    if (!isOrderStream(a.stream)) {
      alog.debug({ stream: a.stream }, 'advisory ignored: not about an order stream');
      return { result: 'ignored' };
    }
    let original = await resolver.original(a.stream, a.streamSeq);
    // An advisory older than the stream names a message of a previous incarnation of that stream.
    if (original !== undefined && Date.parse(await resolver.ordersCreated(a.stream)) > a.at) original = undefined;
    const target = await resolver.target(a.stream, a.consumer, original);
    if (target === undefined) {
      if (isDisplayMailbox(a.consumer) && original !== undefined) {
        // A foreign message an edge terminated (another tenant's, or another display's own
        // subject): filing it under this display would show that order to the wrong tenant.
        alog.warn({ subject: original.stored.subject }, 'advisory ignored: the message is not of this mailbox’s tenant or display');
      } else if (isDisplayMailbox(a.consumer)) {
        // Original, consumer and registry record are all gone: nothing left to replay or to name.
        alog.error({ originalExpired: original === undefined }, 'advisory ignored: its display cannot be identified');
      } else {
        alog.warn('advisory ignored: consumer is not a display mailbox');
      }
      return { result: 'ignored' };
    }
    const { result, entry } = await record(a, target, original);
    const elog = alog.child({
      entryId: entry.id,
      tenant: entry.tenant,
      displayId: entry.displayId,
      orderId: entry.orderId,
      traceId: entry.traceId,
    });
    const latest = entry.failures[entry.failures.length - 1];
    // The receipt is (re)written until it sticks, also on a duplicate whose earlier attempt died
    // between the entry and the receipt; the writer skips it when already there.
    if (entry.orderId !== null && entry.status === 'open' && latest !== undefined && latest.seq === a.streamSeq) {
      const receipt = {
        tenant: entry.tenant,
        orderId: entry.orderId,
        displayId: entry.displayId,
        status: 'dead_lettered' as const,
        stream: latest.stream ?? entry.stream,
        seq: latest.seq,
        at: Date.parse(latest.at),
        deliveryCount: latest.deliveries,
        reason: receiptReason(latest.reason, latest.detail),
      };
      try {
        await receipts.write(receipt, elog);
      } catch (err) {
        metrics.receipts.inc({ status: 'dead_lettered', result: 'failed' });
        throw err;
      }
    }
    if (result !== 'duplicate') {
      metrics.entries.inc({ reason: entry.reason });
      metrics.advisoryLag.observe(Math.max(0, (Date.now() - a.at) / 1000));
      elog.info({ result, reason: entry.reason, detail: entry.detail, originalExpired: entry.originalExpired }, 'dead letter recorded');
    } else {
      elog.debug('advisory already recorded');
    }
    return { result, entryId: entry.id, tenant: entry.tenant };
  }

  async function handle(m: JsMsg): Promise<void> {
    if (stopping) {
      m.nak(); // hand it to another replica (or the next start) now, not after ack_wait
      return;
    }
    try {
      const r = await processAdvisory(m.data, m.subject);
      metrics.advisories.inc({ result: r.result });
      const confirmed = await m.ackAck({ timeout: options.timeoutMs });
      if (!confirmed) log.warn({ seq: m.seq }, 'advisory ack not confirmed; it will be redelivered and found already recorded');
    } catch (err) {
      metrics.advisories.inc({ result: 'retried' });
      const delay = Math.min(options.retryMaxMs, CAPTURE_RETRY_BASE_MS * 2 ** Math.max(0, m.info.deliveryCount - 1));
      log.error({ err, seq: m.seq, deliveries: m.info.deliveryCount, retryInMs: delay }, 'advisory not recorded; will retry');
      m.nak(delay);
    }
  }

  async function readStats(): Promise<void> {
    try {
      const info = await jsm.consumers.info(STREAMS.ADVISORIES, options.consumer);
      lastPending = info.num_pending;
      metrics.advisoriesPending.set(info.num_pending);
    } catch (err) {
      log.warn({ err }, 'capture consumer info failed');
    }
  }

  return {
    async start() {
      await ensureConsumer();
      const consumer = await js.consumers.get(STREAMS.ADVISORIES, options.consumer);
      const msgs = await consumer.consume({ max_messages: options.batch, expires: CONSUME_EXPIRES_MS });
      messages = msgs;
      stopping = false;
      loop = (async () => {
        for await (const m of msgs) await handle(m);
      })().catch((err: unknown) => log.error({ err }, 'capture loop ended with an error'));
      void (async () => {
        for await (const s of msgs.status()) {
          if (s.type === 'heartbeats_missed' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
            log.warn({ status: s }, 'capture consumer status');
          }
        }
      })().catch((err: unknown) => log.debug({ err }, 'capture status iterator ended'));
      await readStats();
      statsTimer = setInterval(() => void readStats(), options.statsIntervalMs);
      statsTimer.unref();
      log.info({ batch: options.batch }, 'capture started');
    },
    async stop() {
      stopping = true;
      clearInterval(statsTimer);
      statsTimer = undefined;
      if (messages !== undefined) await messages.close();
      if (loop !== undefined) await loop;
      messages = undefined;
      loop = undefined;
      log.info('capture stopped');
    },
    running: () => messages !== undefined && !stopping,
    pending: () => lastPending,
  };
}
