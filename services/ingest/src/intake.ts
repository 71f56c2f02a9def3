/**
 * Accepting an order: envelope + headers, publish to ORDERS through the breaker, PubAck, then
 * idempotency bookkeeping and the order's acceptance record on RECEIPTS (its target displays).
 * Nothing here answers 2xx without the PubAck(s) and the record.
 *
 * Targeted orders (`displayIds`) are published once per display on its own subject. The first
 * target is published alone: if it turns out to be a duplicate, its stored message tells whether
 * the body matches (else 409, nothing else published) and gives the original `acceptedAt` and
 * trace id, which the remaining publishes reuse — so a retry that completes a half-published
 * targeted order produces the same envelopes as the first attempt would have.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { HEADERS, ORDER_ENVELOPE_VERSION, displaySubject, stationSubject, type Order, type OrderEnvelope, type OrderTarget } from '@orderwire/contracts';
import { OrderwireError } from '@orderwire/platform';
import type { DisplayIndex } from './display-index.js';
import { INGEST_ERRORS, type UnavailableReason } from './errors.js';
import { BODY_HASH_HEADER, orderHash, stationMsgId, targetMsgId } from './idempotency.js';
import { messageHeaders } from './jetstream-publish.js';
import type { IngestMetrics, OrderOutcome, OrderReason } from './metrics.js';
import type { OrderPublisher } from './order-publisher.js';
import type { ReceiptStore } from './receipt-store.js';
import type { RequestLog } from './request-log.js';
import type { TraceContext } from './trace.js';

export interface TargetResult {
  displayId: string;
  /** Order stream of `seq` (the PubAck's). */
  stream: string;
  seq: number;
  duplicate: boolean;
}

export interface AcceptedOrder {
  orderId: string;
  duplicate: boolean;
  /** Order stream of `seq` (the PubAck's): a sequence names a message only with its stream. */
  stream: string;
  seq: number;
  acceptedAt: number;
  traceId: string;
  targets?: TargetResult[];
}

export interface IntakeRequest {
  tenant: string;
  order: Order;
  /** Idempotency key (header or orderId). */
  key: string;
  trace: TraceContext;
  log: RequestLog;
}

export interface Intake {
  /**
   * Checks the size of the message this order becomes before anything is published.
   * @throws ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE
   */
  checkSize(req: IntakeRequest): void;
  /**
   * Publishes and waits for the PubAck(s).
   * @throws ORDERWIRE_ERR_INGEST_UNAVAILABLE | ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT
   */
  accept(req: IntakeRequest): Promise<AcceptedOrder>;
  /** Counts an outcome in `orderwire_ingest_orders_total`. */
  count(outcome: OrderOutcome, reason: OrderReason): void;
  /** Counts a refusal by its error code. */
  countError(err: unknown): void;
}

export interface IntakeOptions {
  publisher: OrderPublisher;
  /** For reading the original message of a duplicate; created with the publish timeout. */
  jsm: JetStreamManager;
  receipts: ReceiptStore;
  index: DisplayIndex;
  metrics: IngestMetrics;
  /** Largest message ORDERS accepts (stream `max_msg_size`, bounded by the server's `max_payload`). */
  maxMessageBytes: number;
  /** `Retry-After` (ms) when a duplicate's original cannot be read. */
  retryAfterMs: number;
  now?: () => number;
}

interface Original {
  acceptedAt: number;
  traceId: string;
}

/**
 * Room left for the message headers (ids, trace context, hash: a few hundred bytes) when
 * comparing an envelope with the stream's message size limit, which counts headers too.
 */
export const HEADER_ALLOWANCE_BYTES = 1024;

const REASON_BY_CODE: Record<string, OrderReason> = {
  ORDERWIRE_ERR_INGEST_INVALID_ID: 'invalid_id',
  ORDERWIRE_ERR_INGEST_INVALID_ORDER: 'schema',
  ORDERWIRE_ERR_INGEST_INVALID_BATCH: 'schema',
  ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY: 'invalid_idempotency_key',
  ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT: 'idempotency_conflict',
  ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE: 'too_large',
  ORDERWIRE_ERR_INGEST_BATCH_TOO_LARGE: 'too_large',
  ORDERWIRE_ERR_PAYLOAD_TOO_LARGE: 'too_large',
  ORDERWIRE_ERR_INGEST_DUPLICATE_IN_BATCH: 'duplicate_in_batch',
};
const FAILED_REASONS = new Set<string>(['breaker_open', 'disconnected', 'timeout', 'publish_error', 'verify_failed', 'record_failed']);

/**
 * `JSON.stringify(envelope)` from the order's JSON, so an order is serialized once per request
 * (size check, then each publish of it) instead of once per use. The keys and their order are
 * those of {@link OrderEnvelope}; test/idempotency.test.ts pins the bytes to `JSON.stringify`.
 */
export function envelopeJson(tenant: string, orderJson: string, acceptedAt: number, traceId: string): string {
  return `{"v":${ORDER_ENVELOPE_VERSION},"tenant":${JSON.stringify(tenant)},"order":${orderJson},"acceptedAt":${JSON.stringify(acceptedAt)},"traceId":${JSON.stringify(traceId)}}`;
}
/** Fails to compile when the envelope gains or loses a field that envelopeJson must then write. */
const ENVELOPE_KEYS: Record<keyof OrderEnvelope, true> = { v: true, tenant: true, order: true, acceptedAt: true, traceId: true };
void ENVELOPE_KEYS;

/** The `reason` of an UNAVAILABLE error, for metrics. */
export function unavailableReason(err: OrderwireError): Exclude<UnavailableReason, 'read_failed'> | undefined {
  const reason = (err.details as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && FAILED_REASONS.has(reason) ? (reason as Exclude<UnavailableReason, 'read_failed'>) : undefined;
}

export function createIntake(options: IntakeOptions): Intake {
  const { publisher, jsm, receipts, index, metrics } = options;
  const now = options.now ?? Date.now;

  /** The JSON of each request's order, computed on first use. */
  const orderJson = new WeakMap<Order, string>();

  function jsonOf(order: Order): string {
    let json = orderJson.get(order);
    if (json === undefined) {
      json = JSON.stringify(order);
      orderJson.set(order, json);
    }
    return json;
  }

  function envelope(req: IntakeRequest, acceptedAt: number, traceId: string): string {
    return envelopeJson(req.tenant, jsonOf(req.order), acceptedAt, traceId);
  }

  function orderHeaders(req: IntakeRequest, hash: string, acceptedAt: number, traceId: string, traceparent: string) {
    return messageHeaders([
      [HEADERS.orderId, req.order.orderId],
      [HEADERS.tenant, req.tenant],
      [HEADERS.acceptedAt, String(acceptedAt)],
      [HEADERS.traceId, traceId],
      [HEADERS.traceparent, traceparent],
      [BODY_HASH_HEADER, hash],
    ]);
  }

  /** Reads the original of a duplicate publish; checks its body hash. */
  async function original(stream: string, seq: number, hash: string, key: string, log: RequestLog): Promise<Original | undefined> {
    let stored;
    try {
      // The PubAck of a duplicate names the stream that holds the original.
      stored = await jsm.streams.getMessage(stream, { seq });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) stored = null;
      else {
        log.warn({ err, seq }, 'could not read the original of a duplicate order');
        throw INGEST_ERRORS.create(
          'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
          { reason: 'verify_failed' },
          { details: { reason: 'verify_failed', retryAfterSeconds: Math.max(1, Math.ceil(options.retryAfterMs / 1000)) }, cause: err },
        );
      }
    }
    if (stored === null) {
      // Inside the duplicate window the original normally still exists; if it was removed we
      // cannot compare bodies and answer with what we know.
      log.warn({ seq }, 'original of a duplicate order is gone; body not compared');
      return undefined;
    }
    const storedHash = stored.header.get(BODY_HASH_HEADER);
    if (storedHash !== '' && storedHash !== hash) {
      throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT', { key }, { details: { key, seq } });
    }
    const acceptedAt = Number(stored.header.get(HEADERS.acceptedAt));
    const traceId = stored.header.get(HEADERS.traceId);
    return Number.isSafeInteger(acceptedAt) && traceId !== '' ? { acceptedAt, traceId } : undefined;
  }

  function publish(subject: string, msgId: string, req: IntakeRequest, hash: string, acceptedAt: number, traceId: string): Promise<PubAck> {
    return publisher.publish({
      subject,
      msgId,
      // Buffer.from, not TextEncoder: a small Buffer is cut from Node's pool instead of getting an
      // ArrayBuffer of its own (0.3 against 0.75 µs for an order; nats-core takes any Uint8Array).
      data: Buffer.from(envelope(req, acceptedAt, traceId), 'utf8'),
      headers: orderHeaders(req, hash, acceptedAt, traceId, req.trace.traceparent),
    });
  }

  async function acceptStation(req: IntakeRequest, hash: string): Promise<AcceptedOrder> {
    const { tenant, order } = req;
    let acceptedAt = now();
    let traceId = req.trace.traceId;
    const ack = await publish(stationSubject(tenant, order.storeId, order.station), stationMsgId(tenant, req.key), req, hash, acceptedAt, traceId);
    if (ack.duplicate) {
      const first = await original(ack.stream, ack.seq, hash, req.key, req.log);
      if (first !== undefined) ({ acceptedAt, traceId } = first);
    }
    const targets: OrderTarget[] = index
      .stationTargets(tenant, order.storeId, order.station)
      .map((displayId) => ({ displayId, stream: ack.stream, seq: ack.seq }));
    await receipts.recordAccepted({ kind: 'order_accepted', tenant, orderId: order.orderId, at: acceptedAt, traceId, targets }, req.log);
    return { orderId: order.orderId, duplicate: ack.duplicate, stream: ack.stream, seq: ack.seq, acceptedAt, traceId };
  }

  async function acceptTargeted(req: IntakeRequest, displayIds: readonly string[], hash: string): Promise<AcceptedOrder> {
    const { tenant, order } = req;
    let acceptedAt = now();
    let traceId = req.trace.traceId;
    const subject = (d: string): string => displaySubject(tenant, order.storeId, d);
    const [firstId, ...rest] = displayIds as [string, ...string[]];

    const firstAck = await publish(subject(firstId), targetMsgId(tenant, firstId, req.key), req, hash, acceptedAt, traceId);
    if (firstAck.duplicate) {
      const first = await original(firstAck.stream, firstAck.seq, hash, req.key, req.log);
      if (first !== undefined) ({ acceptedAt, traceId } = first);
    }
    // allSettled: answer only once every publish has finished, whatever failed first.
    const settled = await Promise.allSettled(
      rest.map(async (d) => {
        const ack = await publish(subject(d), targetMsgId(tenant, d, req.key), req, hash, acceptedAt, traceId);
        if (ack.duplicate) await original(ack.stream, ack.seq, hash, req.key, req.log);
        return ack;
      }),
    );
    const restAcks = settled.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    const acks = [firstAck, ...restAcks];
    const targets: TargetResult[] = acks.map((ack, i) => ({
      displayId: displayIds[i]!,
      stream: ack.stream,
      seq: ack.seq,
      duplicate: ack.duplicate,
    }));
    await receipts.recordAccepted(
      {
        kind: 'order_accepted',
        tenant,
        orderId: order.orderId,
        at: acceptedAt,
        traceId,
        targets: acks.map((ack, i) => ({ displayId: displayIds[i]!, stream: ack.stream, seq: ack.seq })),
      },
      req.log,
    );
    return {
      orderId: order.orderId,
      duplicate: targets.every((t) => t.duplicate),
      stream: firstAck.stream,
      seq: firstAck.seq,
      acceptedAt,
      traceId,
      targets,
    };
  }

  function count(outcome: OrderOutcome, reason: OrderReason): void {
    metrics.orders.inc({ outcome, reason });
  }

  function countError(err: unknown): void {
    if (!(err instanceof OrderwireError)) {
      count('failed', 'publish_error');
      return;
    }
    const failed = err.code === 'ORDERWIRE_ERR_INGEST_UNAVAILABLE' ? unavailableReason(err) : undefined;
    if (failed !== undefined) count('failed', failed);
    else count('rejected', REASON_BY_CODE[err.code] ?? 'schema');
  }

  return {
    checkSize(req) {
      // The largest envelope this order can become: timestamps and trace ids have fixed widths.
      // Counted in two parts (the order's JSON, the rest) so the envelope is not built twice; the
      // parts meet at ASCII characters, so their byte lengths add up to the whole's.
      const size = Buffer.byteLength(jsonOf(req.order), 'utf8') + Buffer.byteLength(envelopeJson(req.tenant, '', now(), req.trace.traceId), 'utf8');
      const limit = options.maxMessageBytes - HEADER_ALLOWANCE_BYTES;
      if (size > limit) {
        throw INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE', { size, limit }, { details: { size, limit } });
      }
    },
    async accept(req) {
      const hash = orderHash(req.order);
      const displayIds = req.order.displayIds;
      const result =
        displayIds === undefined || displayIds.length === 0 ? await acceptStation(req, hash) : await acceptTargeted(req, displayIds, hash);
      count(result.duplicate ? 'duplicate' : 'accepted', result.duplicate ? 'idempotent_repeat' : 'ok');
      return result;
    },
    count,
    countError,
  };
}
