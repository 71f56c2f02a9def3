/**
 * Delivery receipts on the RECEIPTS stream (`receipts.<tenant>.<orderKey>.<displayId>`, one
 * message kept per subject: the latest status). Ingest writes `pending` when it accepts an order
 * and reads the latest status per display for `GET /v1/orders/:orderId`; the edge and the DLQ
 * service write the later states.
 *
 * A `pending` receipt is written with the shared compare-and-set (`writeReceipt`, the contracts'
 * state machine): pending only ever starts a subject, so a late pending (a slow request, a retried
 * duplicate) can never overwrite `delivered` or `dead_lettered`.
 *
 * Reading: nats-server 2.10 has no batch direct get (`multi_last` needs 2.11), so the subjects of
 * one order come from STREAM.INFO with `subjects_filter` and each latest message from a direct
 * get by subject — plain request/replies with a timeout, no consumer to create or clean up.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { isReceiptStatus, receiptsForOrderFilter, type Receipt, type ReceiptStatus } from '@orderwire/contracts';
import { STREAMS, writeReceipt, type ReceiptStream } from '@orderwire/platform';
import { INGEST_ERRORS } from './errors.js';
import type { JsPublisher } from './jetstream-publish.js';
import type { IngestMetrics } from './metrics.js';
import type { RequestLog } from './request-log.js';
import type { ConnectionState } from './nats-connection-state.js';

/** 32 direct gets in flight per status request */
export const RECEIPT_READ_CONCURRENCY = 32;

export interface ReceiptTarget {
  displayId: string;
  /** Order stream (`ORDERS_P<i>`) of the message this display will receive. */
  stream: string;
  /** Its sequence in `stream`. */
  seq: number;
}

export interface DisplayStatus {
  displayId: string;
  status: ReceiptStatus;
  /** Epoch ms of the state change. */
  at: number;
  /** Order stream of `seq`; absent on receipts written before partitioning. */
  stream?: string;
  seq: number;
  edge?: string;
  deliveryCount?: number;
  reason?: string;
}

export interface PendingSummary {
  written: number;
  existing: number;
  failed: number;
}

export interface ReceiptStore {
  /** Best effort: never throws; failures are logged and counted. */
  writePending(tenant: string, orderId: string, targets: readonly ReceiptTarget[], at: number, log: RequestLog): Promise<PendingSummary>;
  /**
   * Latest status per display, sorted by displayId; empty when nothing is known.
   * @throws ORDERWIRE_ERR_INGEST_UNAVAILABLE when the stream cannot be read
   */
  orderStatus(tenant: string, orderId: string, log: RequestLog): Promise<DisplayStatus[]>;
}

export interface ReceiptStoreOptions {
  js: Pick<JsPublisher, 'publish'>;
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

export function createReceiptStore(options: ReceiptStoreOptions): ReceiptStore {
  const { js, jsm, connection, metrics } = options;
  const stream: ReceiptStream = {
    last: (subject) => jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject }),
    publish: (subject, data, expected) => js.publish(subject, data, { expect: { lastSubjectSequence: expected }, timeoutMs: options.timeoutMs }),
  };

  function readFailed(cause: unknown): Error {
    return INGEST_ERRORS.create(
      'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
      { reason: 'read_failed' },
      { details: { reason: 'read_failed', retryAfterSeconds: Math.max(1, Math.ceil(options.retryAfterMs / 1000)) }, cause },
    );
  }

  return {
    async writePending(tenant, orderId, targets, at, log) {
      const summary: PendingSummary = { written: 0, existing: 0, failed: 0 };
      if (targets.length === 0) return summary;
      if (!connection.connected()) {
        summary.failed = targets.length;
        metrics.pendingReceipts.inc({ result: 'failed' }, targets.length);
        log.warn({ targets: targets.length }, 'pending receipts skipped: nats disconnected');
        return summary;
      }
      await Promise.all(
        targets.map(async (t) => {
          const receipt: Receipt = { tenant, orderId, displayId: t.displayId, status: 'pending', stream: t.stream, seq: t.seq, at };
          try {
            if ((await writeReceipt(stream, receipt)) === 'written') {
              summary.written++;
              metrics.pendingReceipts.inc({ result: 'written' });
            } else {
              // The subject already holds a status (an earlier pending, or the edge's delivered).
              summary.existing++;
              metrics.pendingReceipts.inc({ result: 'exists' });
            }
          } catch (err) {
            summary.failed++;
            metrics.pendingReceipts.inc({ result: 'failed' });
            log.warn({ err, displayId: t.displayId }, 'pending receipt not written');
          }
        }),
      );
      return summary;
    },

    async orderStatus(tenant, orderId, log) {
      if (!connection.connected()) throw readFailed(undefined);
      const filter = receiptsForOrderFilter(tenant, orderId);
      let subjects: string[];
      try {
        const info = await jsm.streams.info(STREAMS.RECEIPTS, { subjects_filter: filter });
        subjects = Object.keys(info.state.subjects ?? {}).sort();
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
      return out;
    },
  };
}
