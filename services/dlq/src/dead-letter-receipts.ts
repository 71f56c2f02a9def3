/**
 * Receipts the DLQ service records on RECEIPTS (`receipts.<tenant>.<orderKey>.<displayId>`, one
 * message per subject: the latest status), so ingest's `GET /v1/orders/:orderId` shows
 * `dead_lettered` and `replayed`.
 *
 * Written with the shared compare-and-set (`writeReceipt`, the contracts' receipt state machine):
 * skipped when the subject already holds it or a state it must not hide — e.g. the edge's
 * `delivered` for a replayed copy can land before our `replayed`, and stays.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Receipt } from '@orderwire/contracts';
import { STREAMS, writeReceipt, type Logger, type ReceiptStream, type ReceiptWriteOutcome } from '@orderwire/platform';
import type { DlqMetrics } from './metrics.js';

export type ReceiptOutcome = ReceiptWriteOutcome;

export interface ReceiptWriter {
  /**
   * Writes `receipt` unless the subject already holds it (same status and seq) or a state it must
   * not replace. Throws when RECEIPTS cannot be read or written.
   */
  write(receipt: Receipt, log: Logger): Promise<ReceiptOutcome>;
}

export interface ReceiptWriterOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  timeoutMs: number;
  metrics: DlqMetrics;
}

export function createReceiptWriter(options: ReceiptWriterOptions): ReceiptWriter {
  const { js, jsm, timeoutMs, metrics } = options;
  const stream: ReceiptStream = {
    last: (subject) => jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject }),
    publish: (subject, data, expected) => js.publish(subject, data, { expect: { lastSubjectSequence: expected }, timeout: timeoutMs }),
  };

  return {
    async write(receipt, log) {
      const outcome = await writeReceipt(stream, receipt);
      metrics.receipts.inc({ status: receipt.status, result: outcome });
      log.debug({ receipt: receipt.status, seq: receipt.seq, outcome }, 'receipt');
      return outcome;
    },
  };
}
