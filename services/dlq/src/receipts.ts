/**
 * Receipts the DLQ service records on RECEIPTS (`receipts.<tenant>.<orderKey>.<displayId>`, one
 * message per subject: the latest status), so ingest's `GET /v1/orders/:orderId` shows
 * `dead_lettered` and `replayed`.
 *
 * A receipt is a compare-and-set against what was read, and is skipped when the subject already
 * holds the state of a NEWER message (a higher ORDERS sequence): e.g. the edge's `delivered` for a
 * replayed copy can land before our `replayed`, and must not be overwritten by it.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { receiptSubject, type Receipt, type ReceiptStatus } from '@orderwire/contracts';
import { STREAMS, type Logger } from '@orderwire/platform';
import type { DlqMetrics } from './metrics.js';

/** @default 4 attempts when another writer updates the same receipt meanwhile. */
const RECEIPT_ATTEMPTS = 4;

export type ReceiptOutcome = 'written' | 'unchanged' | 'superseded';

export interface ReceiptWriter {
  /**
   * Writes `receipt` unless the subject already holds it (same status and seq) or the state of a
   * newer message. Throws when RECEIPTS cannot be read or written.
   */
  write(receipt: Receipt, log: Logger): Promise<ReceiptOutcome>;
}

export interface ReceiptWriterOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  timeoutMs: number;
  metrics: DlqMetrics;
}

/**
 * Order of states of ONE message: a `replayed` copy is later `delivered` or `dead_lettered`,
 * never the other way round, so a late `replayed` must not hide the outcome.
 */
const STATUS_RANK: Record<ReceiptStatus, number> = { pending: 0, replayed: 1, delivered: 2, dead_lettered: 2 };

function rank(status: unknown): number {
  return typeof status === 'string' && status in STATUS_RANK ? STATUS_RANK[status as ReceiptStatus] : -1;
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

function current(data: Uint8Array): Partial<Receipt> | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return v !== null && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function createReceiptWriter(options: ReceiptWriterOptions): ReceiptWriter {
  const { js, jsm, timeoutMs, metrics } = options;
  const encoder = new TextEncoder();

  async function attempt(receipt: Receipt, subject: string): Promise<ReceiptOutcome | 'retry'> {
    const last = await jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject });
    if (last !== null) {
      const have = current(last.data);
      if (have !== undefined && typeof have.seq === 'number') {
        if (have.seq > receipt.seq) return 'superseded';
        if (have.seq === receipt.seq) {
          if (have.status === receipt.status) return 'unchanged';
          if (rank(have.status) > rank(receipt.status)) return 'superseded';
        }
      }
    }
    try {
      await js.publish(subject, encoder.encode(JSON.stringify(receipt)), {
        expect: { lastSubjectSequence: last?.seq ?? 0 },
        timeout: timeoutMs,
      });
      return 'written';
    } catch (err) {
      if (isWrongLastSequence(err)) return 'retry';
      throw err;
    }
  }

  return {
    async write(receipt, log) {
      const subject = receiptSubject(receipt.tenant, receipt.orderId, receipt.displayId);
      for (let i = 0; i < RECEIPT_ATTEMPTS; i++) {
        const outcome = await attempt(receipt, subject);
        if (outcome !== 'retry') {
          metrics.receipts.inc({ status: receipt.status, result: outcome });
          log.debug({ receipt: receipt.status, seq: receipt.seq, outcome }, 'receipt');
          return outcome;
        }
      }
      // Four writers in a row got in first: whatever they wrote is at least as fresh as ours.
      metrics.receipts.inc({ status: receipt.status, result: 'superseded' });
      return 'superseded';
    },
  };
}
