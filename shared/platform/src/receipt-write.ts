/**
 * The one way to write a delivery receipt (ingest's `pending`, the edge's `delivered`, the DLQ's
 * `dead_lettered` and `replayed`): a compare-and-set on the receipt's RECEIPTS subject that
 * applies the contracts' state machine (`receiptTransition`).
 *
 *   read the subject's last message ─► decide (write / unchanged / superseded)
 *        ▲                                   │ write: publish with
 *        │ wrong last sequence               ▼ Nats-Expected-Last-Subject-Sequence = what was read
 *        └──────────── another writer got in first
 *
 * So a late writer never overwrites a newer state: it re-reads and either applies a legal
 * transition or drops its receipt. A status that can only start a subject (`pending`) skips the
 * first read and publishes expecting an empty subject. The wire format stays the `Receipt` JSON.
 */
import {
  receiptOnlyStartsSubject,
  receiptState,
  receiptSubject,
  receiptTransition,
  type Receipt,
  type ReceiptDecision,
} from '@orderwire/contracts';
import { PLATFORM_ERRORS } from './errors.js';
import { compareAndSet, type StoredMessage } from './jetstream.js';

/** How a writer reaches the RECEIPTS stream (the client library, or the shared reply mux). */
export interface ReceiptStream {
  /**
   * The subject's last message, or `null` when the subject is empty. Read from the stream leader
   * (not a direct get from a possibly lagging replica): it decides the compare-and-set.
   */
  last(subject: string): Promise<StoredMessage | null>;
  /**
   * Publishes with `Nats-Expected-Last-Subject-Sequence: expectedLastSubjectSequence`; a lost
   * race rejects with the library's wrong-last-sequence JetStreamApiError.
   */
  publish(subject: string, data: Uint8Array, expectedLastSubjectSequence: number): Promise<unknown>;
}

/** `written`, or why not: the subject already held this state, or a newer / further one. */
export type ReceiptWriteOutcome = 'written' | Exclude<ReceiptDecision, 'write'>;

export interface WriteReceiptOptions {
  /** @default {@link DEFAULT_CAS_ATTEMPTS} */
  attempts?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function storedState(msg: StoredMessage | null): ReturnType<typeof receiptState> {
  if (msg === null) return undefined;
  try {
    return receiptState(JSON.parse(decoder.decode(msg.data)));
  } catch {
    return undefined; // not a receipt: replaced like an empty subject
  }
}

/**
 * Writes `receipt` to its subject if the state machine allows it over what the subject holds.
 * @throws ORDERWIRE_ERR_RECEIPT_CONFLICT when other writers won every round; any read or publish
 *   failure as the stream reported it
 */
export async function writeReceipt(stream: ReceiptStream, receipt: Receipt, options: WriteReceiptOptions = {}): Promise<ReceiptWriteOutcome> {
  const subject = receiptSubject(receipt.tenant, receipt.orderId, receipt.displayId);
  const data = encoder.encode(JSON.stringify(receipt));
  const blind = receiptOnlyStartsSubject(receipt.status);
  return compareAndSet<ReceiptWriteOutcome>(
    async (attempt) => {
      const last = blind && attempt === 1 ? null : await stream.last(subject);
      const decision = receiptTransition(storedState(last), receipt);
      if (decision !== 'write') return decision;
      await stream.publish(subject, data, last?.seq ?? 0);
      return 'written';
    },
    {
      ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
      exhausted: () => PLATFORM_ERRORS.create('ORDERWIRE_ERR_RECEIPT_CONFLICT', { subject, status: receipt.status }),
    },
  );
}
