/**
 * Expiry detector: finds orders that aged out of their stream (ORDERS `max_age`) while a target
 * display still owed an ack, records `expired` for that display, and adds the order to the
 * display's notice so the edge tells it on its next connection (`orders:expired`).
 *
 * Where the owed orders come from: every accepted order has ONE acceptance record on RECEIPTS
 * (`receipts.<tenant>.<orderKey>`, written by ingest before its 2xx) naming its target displays
 * with the stream and sequence of each one's message. A durable pull consumer on those records
 * (`receipts.*.*`, explicit ack, shared by every replica) walks them in acceptance order:
 *
 *   record ──► not due yet (accepted + max_age in the future, or still in the stream)
 *     │           └─► nak(delay until due): JetStream hands it back then — no timer of ours
 *     ├─► no targets, or the stream keeps orders forever ──► ack
 *     └─► gone from the stream: per target, read its receipt
 *            delivered / dead_lettered / expired ──► settled, nothing to do
 *            none, pending, replayed of a copy that is gone ──► owed:
 *               write `expired` (compare-and-set: a `delivered` that lands first wins)
 *               then add it to the display's notice (only if the receipt says expired)
 *         ──► ack (confirmed)
 *
 * Cost: nothing per delivery; per order, one record handed out twice (seen, then due) and, when it
 * ages out, one receipt read per target. At most `maxAckPending` records are held at once, so a
 * replica's memory and the consumer's pending state stay bounded however long max_age is: the
 * consumer stops handing out records until the held ones come due (later records are due later).
 *
 * Safe with two replicas and repeats: every write is a compare-and-set or idempotent (the receipt
 * state machine; a notice lists an order at most once), and a record is acked only after its
 * writes. A record redelivered after a crash finds `expired` already written and only re-adds the
 * order to the notice, which lists it once (if the display was told and acked in between, it is
 * told again: at-least-once, like every delivery).
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { millis, nanos } from '@nats-io/nats-core';
import {
  ORDER_ACCEPTED_FILTER,
  SETTLED_RECEIPT_STATUSES,
  parseOrderAcceptedRecord,
  receiptState,
  receiptSubject,
  type OrderAcceptedRecord,
  type OrderTarget,
  type Receipt,
} from '@orderwire/contracts';
import { CONSUME_EXPIRES_MS, JS_API_CODES, STREAMS, isJetStreamApiError, type ExpiredNotices, type Logger } from '@orderwire/platform';
import type { ReceiptWriter } from './dead-letter-receipts.js';
import type { DlqMetrics, ExpiryResult } from './metrics.js';

/** `reason` of an `expired` receipt: the stream's max age removed the message. */
export const EXPIRED_REASON = 'max_age';
/** How long the server's own stream info is reused (first sequence, max age) between records. */
export const STREAM_STATE_TTL_MS = 1_000;
/** A record whose order is due but still in the stream (the server's expiry runs a little late) is looked at again after this. */
export const EXPIRY_RECHECK_MS = 1_000;
/** First retry delay of a record that failed; doubles per delivery up to the configured max. */
export const EXPIRY_RETRY_BASE_MS = 1_000;
/** Receipt reads in flight per record. */
export const EXPIRY_READ_CONCURRENCY = 16;

export interface ExpiryDetectorOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  receipts: ReceiptWriter;
  notices: ExpiredNotices;
  metrics: DlqMetrics;
  logger: Logger;
  /** Durable consumer name on RECEIPTS. */
  consumer: string;
  /** Records per pull. */
  batch: number;
  /** Records handed out and not yet acked, for all replicas together. */
  maxAckPending: number;
  ackWaitMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  now?: () => number;
}

export interface ExpiryDetector {
  /** Ensures the durable consumer and starts consuming. */
  start(): Promise<void>;
  /** Stops pulling, finishes the record in hand, hands back the rest (nak). */
  stop(): Promise<void>;
  running(): boolean;
  /**
   * Looks at one acceptance record (exported for tests): `waiting` with the delay until it is
   * due, or what was found.
   */
  check(record: OrderAcceptedRecord): Promise<{ result: Exclude<ExpiryResult, 'malformed' | 'retried'>; delayMs?: number; expired: number }>;
}

interface StreamState {
  firstSeq: number;
  maxAgeMs: number;
  readAt: number;
}

const decoder = new TextDecoder();

export function createExpiryDetector(options: ExpiryDetectorOptions): ExpiryDetector {
  const { js, jsm, receipts, notices, metrics, logger } = options;
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'expiry', consumer: options.consumer });
  const streams = new Map<string, StreamState>();
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;

  async function streamState(name: string): Promise<StreamState> {
    const cached = streams.get(name);
    if (cached !== undefined && now() - cached.readAt < STREAM_STATE_TTL_MS) return cached;
    const info = await jsm.streams.info(name);
    const state = { firstSeq: info.state.first_seq, maxAgeMs: millis(info.config.max_age ?? 0), readAt: now() };
    streams.set(name, state);
    return state;
  }

  /** The stored receipt of a target, as far as expiry cares. */
  async function receiptOf(record: OrderAcceptedRecord, t: OrderTarget): Promise<{ status: string; seq: number; stream?: string } | undefined> {
    const m = await jsm.direct.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject(record.tenant, record.orderId, t.displayId) });
    if (m === null) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(m.data));
    } catch {
      return undefined;
    }
    const state = receiptState(value);
    if (state === undefined) return undefined;
    const stream = (value as { stream?: unknown }).stream;
    return typeof stream === 'string' ? { ...state, stream } : state;
  }

  /**
   * Whether the target still owes an ack for a message that is gone: no receipt (or one of an
   * older message), a stored `pending`, or `replayed` whose copy is gone too. The message of the
   * owed state is returned (a replayed copy has its own sequence).
   */
  async function owed(record: OrderAcceptedRecord, t: OrderTarget): Promise<{ stream: string; seq: number } | undefined> {
    const r = await receiptOf(record, t);
    const stream = r?.stream ?? t.stream;
    if (r === undefined || (r.seq < t.seq && stream === t.stream)) return { stream: t.stream, seq: t.seq };
    if ((SETTLED_RECEIPT_STATUSES as readonly string[]).includes(r.status)) return undefined;
    if (r.status === 'pending') return { stream, seq: r.seq };
    if (r.status === 'replayed') {
      // The copy has its own sequence: expired only once it is gone as well.
      const s = await streamState(stream);
      return r.seq < s.firstSeq ? { stream, seq: r.seq } : undefined;
    }
    return undefined; // a status this version does not know: leave it alone
  }

  async function expire(record: OrderAcceptedRecord, t: OrderTarget, message: { stream: string; seq: number }, at: number): Promise<boolean> {
    const receipt: Receipt = {
      tenant: record.tenant,
      orderId: record.orderId,
      displayId: t.displayId,
      status: 'expired',
      stream: message.stream,
      seq: message.seq,
      at,
      reason: EXPIRED_REASON,
    };
    if (record.traceId !== undefined) receipt.traceId = record.traceId;
    const rlog = log.child({ tenant: record.tenant, orderId: record.orderId, displayId: t.displayId, traceId: record.traceId });
    const outcome = await receipts.write(receipt, rlog);
    // `superseded`: the display's ack (or a dead letter) landed first — it was not missed.
    if (outcome === 'superseded') return false;
    await notices.add(record.tenant, t.displayId, [{ orderId: record.orderId, expiredAt: at, acceptedAt: record.at }]);
    if (outcome === 'written') rlog.info({ stream: message.stream, seq: message.seq }, 'order expired before the display acknowledged it');
    return outcome === 'written';
  }

  async function check(record: OrderAcceptedRecord): Promise<{ result: Exclude<ExpiryResult, 'malformed' | 'retried'>; delayMs?: number; expired: number }> {
    if (record.targets.length === 0) return { result: 'no_targets', expired: 0 };
    let waitMs = 0;
    let forever = true;
    for (const name of new Set(record.targets.map((t) => t.stream))) {
      const s = await streamState(name);
      if (s.maxAgeMs === 0) continue; // kept until delivered: never expires by age
      forever = false;
      const gone = record.targets.every((t) => t.stream !== name || t.seq < s.firstSeq);
      if (!gone) waitMs = Math.max(waitMs, record.at + s.maxAgeMs - now(), EXPIRY_RECHECK_MS);
    }
    if (forever) return { result: 'settled', expired: 0 };
    if (waitMs > 0) return { result: 'waiting', delayMs: waitMs, expired: 0 };

    const at = now();
    let expired = 0;
    for (let i = 0; i < record.targets.length; i += EXPIRY_READ_CONCURRENCY) {
      const chunk = record.targets.slice(i, i + EXPIRY_READ_CONCURRENCY);
      const done = await Promise.all(
        chunk.map(async (t) => {
          const message = await owed(record, t);
          return message === undefined ? false : expire(record, t, message, at);
        }),
      );
      expired += done.filter(Boolean).length;
    }
    if (expired > 0) {
      metrics.expired.inc(expired);
      const dueAt = Math.max(...[...new Set(record.targets.map((t) => t.stream))].map((n) => record.at + (streams.get(n)?.maxAgeMs ?? 0)));
      metrics.expiryLag.observe(Math.max(0, (at - dueAt) / 1000));
    }
    return { result: expired > 0 ? 'expired' : 'settled', expired };
  }

  async function ensureConsumer(): Promise<void> {
    const config = {
      durable_name: options.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: ORDER_ACCEPTED_FILTER,
      ack_wait: nanos(options.ackWaitMs),
      // Never give up on a record: a failure that outlasts every retry is an outage to fix.
      max_deliver: -1,
      max_ack_pending: options.maxAckPending,
      description: 'DLQ service: finds orders that expired before their display acknowledged them',
    };
    try {
      const info = await jsm.consumers.info(STREAMS.RECEIPTS, options.consumer);
      if (info.config.ack_wait !== config.ack_wait || info.config.max_ack_pending !== config.max_ack_pending) {
        await jsm.consumers.update(STREAMS.RECEIPTS, options.consumer, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
      }
    } catch (err) {
      if (!isJetStreamApiError(err, JS_API_CODES.ConsumerNotFound)) throw err;
      await jsm.consumers.add(STREAMS.RECEIPTS, config);
      log.info('expiry consumer created');
    }
  }

  async function handle(m: JsMsg): Promise<void> {
    if (stopping) {
      m.nak();
      return;
    }
    let record: OrderAcceptedRecord | undefined;
    try {
      record = parseOrderAcceptedRecord(JSON.parse(decoder.decode(m.data)));
    } catch {
      record = undefined;
    }
    if (record === undefined) {
      metrics.expiryRecords.inc({ result: 'malformed' });
      log.warn({ subject: m.subject, seq: m.seq }, 'acceptance record ignored: not one we understand');
      m.term('malformed acceptance record');
      return;
    }
    try {
      const r = await check(record);
      metrics.expiryRecords.inc({ result: r.result });
      if (r.result === 'waiting') {
        m.nak(r.delayMs);
        return;
      }
      const confirmed = await m.ackAck({ timeout: options.timeoutMs });
      if (!confirmed) log.warn({ seq: m.seq }, 'record ack not confirmed; it will be redelivered and found done');
    } catch (err) {
      metrics.expiryRecords.inc({ result: 'retried' });
      const delay = Math.min(options.retryMaxMs, EXPIRY_RETRY_BASE_MS * 2 ** Math.max(0, m.info.deliveryCount - 1));
      log.error({ err, seq: m.seq, orderId: record.orderId, tenant: record.tenant, retryInMs: delay }, 'expiry check failed; will retry');
      m.nak(delay);
    }
  }

  return {
    check,
    async start() {
      await ensureConsumer();
      const consumer = await js.consumers.get(STREAMS.RECEIPTS, options.consumer);
      const msgs = await consumer.consume({ max_messages: options.batch, expires: CONSUME_EXPIRES_MS });
      messages = msgs;
      stopping = false;
      loop = (async () => {
        for await (const m of msgs) await handle(m);
      })().catch((err: unknown) => log.error({ err }, 'expiry loop ended with an error'));
      void (async () => {
        for await (const s of msgs.status()) {
          if (s.type === 'heartbeats_missed' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
            log.warn({ status: s }, 'expiry consumer status');
          }
        }
      })().catch((err: unknown) => log.debug({ err }, 'expiry status iterator ended'));
      log.info({ batch: options.batch, maxAckPending: options.maxAckPending }, 'expiry detector started');
    },
    async stop() {
      stopping = true;
      if (messages !== undefined) await messages.close();
      if (loop !== undefined) await loop;
      messages = undefined;
      loop = undefined;
      log.info('expiry detector stopped');
    },
    running: () => messages !== undefined && !stopping,
  };
}
