/**
 * What RECEIPTS knows about an order. Ingest writes ONE acceptance record per order
 * (`receipts.<tenant>.<orderKey>`: when, and the target displays with the stream and sequence of
 * each one's message — possibly none) after the PubAck(s) and before it answers 2xx; the edge and
 * the DLQ service write each display's receipt (`receipts.<tenant>.<orderKey>.<displayId>`:
 * delivered, dead_lettered, replayed, expired). A target without a receipt of its own is
 * `pending`. So `GET /v1/orders/:orderId` answers for every accepted order, including one with
 * no target, and 404 means "never accepted" (or older than RECEIPTS keeps).
 *
 * The record is published expecting an empty subject (`Nats-Expected-Last-Subject-Sequence: 0`):
 * the first acceptance's record stays, a retried duplicate finds it (`exists`). One write per
 * order, where earlier versions wrote a `pending` receipt per target display (those are still
 * read: a stored `pending` is reported as it is).
 *
 * Reading: nats-server 2.10 has no batch direct get (`multi_last` needs 2.11), so the receipt
 * subjects of one order come from STREAM.INFO with `subjects_filter` and each latest message from
 * a direct get by subject, the record from a direct get of its own subject — plain
 * request/replies with a timeout, no consumer to create or clean up.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import {
  isReceiptStatus,
  orderAcceptedSubject,
  parseOrderAcceptedRecord,
  receiptsForOrderFilter,
  type OrderAcceptedRecord,
  type Receipt,
  type ReceiptStatus,
} from '@orderwire/contracts';
import { STREAMS, isWrongLastSequence } from '@orderwire/platform';
import { INGEST_ERRORS } from './errors.js';
import { messageHeaders } from './jetstream-publish.js';
import type { OrderPublisher } from './order-publisher.js';
import type { IngestMetrics } from './metrics.js';
import type { RequestLog } from './request-log.js';
import type { ConnectionState } from './nats-connection-state.js';

/** 32 direct gets in flight per status request */
export const RECEIPT_READ_CONCURRENCY = 32;

export interface DisplayStatus {
  displayId: string;
  status: ReceiptStatus;
  /** Epoch ms of the state change (`pending`: the acceptance). */
  at: number;
  /** Order stream of `seq`; absent on receipts written before partitioning. */
  stream?: string;
  seq: number;
  edge?: string;
  deliveryCount?: number;
  reason?: string;
}

/** What RECEIPTS holds about one order. */
export interface OrderReceipts {
  /** The acceptance record; absent for orders accepted before records existed. */
  accepted?: OrderAcceptedRecord;
  /** Every display receipt of the order, sorted by displayId. */
  displays: DisplayStatus[];
}

export type AcceptanceOutcome = 'written' | 'exists';

export interface ReceiptStore {
  /**
   * Writes the order's acceptance record unless one exists.
   * Failures a cluster recovers from by itself (an election, a reconnect) are retried like order
   * publishes, within the publish retry window.
   * @throws ORDERWIRE_ERR_INGEST_UNAVAILABLE (`record_failed`) when it cannot be written: the order
   *   is stored, and the caller's retry (same idempotency key) completes the record
   */
  recordAccepted(record: OrderAcceptedRecord, log: RequestLog): Promise<AcceptanceOutcome>;
  /**
   * The acceptance record and the display receipts of an order.
   * @throws ORDERWIRE_ERR_INGEST_UNAVAILABLE when the stream cannot be read
   */
  orderReceipts(tenant: string, orderId: string, log: RequestLog): Promise<OrderReceipts>;
}

export interface ReceiptStoreOptions {
  /** Publishes with the publisher's retries through elections (the record is part of accepting). */
  publisher: Pick<OrderPublisher, 'publishRetrying'>;
  /** Created with `timeout` = the receipt timeout. */
  jsm: JetStreamManager;
  connection: ConnectionState;
  timeoutMs: number;
  retryAfterMs: number;
  metrics: IngestMetrics;
}


function toDisplayStatus(displayId: string, value: unknown): DisplayStatus | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Partial<Receipt>;
  if (!isReceiptStatus(r.status)) return undefined;
  if (typeof r.at !== 'number' || typeof r.seq !== 'number') return undefined;
  const out: DisplayStatus = { displayId, status: r.status, at: r.at, seq: r.seq };
  if (typeof r.stream === 'string') out.stream = r.stream;
  if (typeof r.edge === 'string') out.edge = r.edge;
  if (typeof r.deliveryCount === 'number') out.deliveryCount = r.deliveryCount;
  if (typeof r.reason === 'string') out.reason = r.reason;
  return out;
}

/**
 * The status an order has per display: every target of the record (pending until it has a
 * receipt), plus every display with a receipt (a station order reaches displays registered
 * after it was accepted; a replay may go to one). Sorted by displayId.
 */
export function displayStatuses(receipts: OrderReceipts): DisplayStatus[] {
  const byDisplay = new Map<string, DisplayStatus>();
  const rec = receipts.accepted;
  for (const t of rec?.targets ?? []) {
    byDisplay.set(t.displayId, { displayId: t.displayId, status: 'pending', at: rec!.at, seq: t.seq, stream: t.stream });
  }
  for (const d of receipts.displays) {
    const target = byDisplay.get(d.displayId);
    // A receipt of an older message than the one the record names (a display's receipt left
    // from an order re-sent after the duplicate window) does not describe this one.
    if (target !== undefined && d.seq < target.seq && (d.stream ?? target.stream) === target.stream) continue;
    byDisplay.set(d.displayId, target?.stream !== undefined && d.stream === undefined ? { ...d, stream: target.stream } : d);
  }
  return [...byDisplay.values()].sort((a, b) => (a.displayId < b.displayId ? -1 : a.displayId > b.displayId ? 1 : 0));
}

export function createReceiptStore(options: ReceiptStoreOptions): ReceiptStore {
  const { publisher, jsm, connection, metrics } = options;
  function readFailed(cause: unknown): Error {
    return INGEST_ERRORS.create(
      'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
      { reason: 'read_failed' },
      { details: { reason: 'read_failed', retryAfterSeconds: Math.max(1, Math.ceil(options.retryAfterMs / 1000)) }, cause },
    );
  }

  return {
    async recordAccepted(record, log) {
      const fail = (cause: unknown): Error => {
        metrics.acceptanceRecords.inc({ result: 'failed' });
        log.warn({ err: cause, targets: record.targets.length }, 'acceptance record not written');
        return INGEST_ERRORS.create(
          'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
          { reason: 'record_failed' },
          { details: { reason: 'record_failed', retryAfterSeconds: Math.max(1, Math.ceil(options.retryAfterMs / 1000)) }, cause },
        );
      };
      try {
        await publisher.publishRetrying(
          {
            subject: orderAcceptedSubject(record.tenant, record.orderId),
            data: Buffer.from(JSON.stringify(record), 'utf8'), // pooled, see intake.ts
            headers: messageHeaders([]),
            expectLastSubjectSequence: 0,
          },
          options.timeoutMs,
        );
      } catch (err) {
        if (isWrongLastSequence(err)) {
          // The first acceptance (or a concurrent retry) recorded it: that record stays.
          metrics.acceptanceRecords.inc({ result: 'exists' });
          return 'exists';
        }
        throw fail(err);
      }
      metrics.acceptanceRecords.inc({ result: 'written' });
      return 'written';
    },

    async orderReceipts(tenant, orderId, log) {
      if (!connection.connected()) throw readFailed(undefined);
      const filter = receiptsForOrderFilter(tenant, orderId);
      const acceptedSubject = orderAcceptedSubject(tenant, orderId);
      let subjects: string[];
      let accepted: OrderAcceptedRecord | undefined;
      try {
        const [info, record] = await Promise.all([
          jsm.streams.info(STREAMS.RECEIPTS, { subjects_filter: filter }),
          jsm.direct.getMessage(STREAMS.RECEIPTS, { last_by_subj: acceptedSubject }),
        ]);
        subjects = Object.keys(info.state.subjects ?? {}).sort();
        if (record !== null) {
          let value: unknown;
          try {
            value = record.json();
          } catch {
            value = undefined;
          }
          accepted = parseOrderAcceptedRecord(value);
          if (accepted === undefined) log.warn({ subject: acceptedSubject, seq: record.seq }, 'ignoring malformed acceptance record');
        }
      } catch (err) {
        throw readFailed(err);
      }
      const out: DisplayStatus[] = [];
      for (let i = 0; i < subjects.length; i += RECEIPT_READ_CONCURRENCY) {
        const chunk = subjects.slice(i, i + RECEIPT_READ_CONCURRENCY);
        const got = await Promise.all(
          chunk.map(async (subject) => {
            let m;
            try {
              m = await jsm.direct.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject });
            } catch (err) {
              throw readFailed(err);
            }
            if (m === null) return undefined; // expired between the listing and the read
            const displayId = subject.slice(subject.lastIndexOf('.') + 1);
            let status: DisplayStatus | undefined;
            try {
              status = toDisplayStatus(displayId, m.json());
            } catch {
              status = undefined;
            }
            // Another service wrote something we cannot read: report what we can, not a 500.
            if (status === undefined) log.warn({ subject, seq: m.seq }, 'ignoring malformed receipt');
            return status;
          }),
        );
        for (const s of got) if (s !== undefined) out.push(s);
      }
      return accepted === undefined ? { displays: out } : { accepted, displays: out };
    },
  };
}
