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
 * transition or drops its receipt. The wire format stays the `Receipt` JSON.
 *
 * The first round is optimistic, because a write is on every delivery's path (issue 14):
 * - a status that can only start a subject (`pending`), or a writer whose last write found its
 *   subject empty (`hint.expectEmpty`: the edge once no per-display `pending` precedes its
 *   `delivered`), publishes expecting an empty subject without reading — one round trip; a
 *   lost bet is an ordinary lost race (the next round reads) and flips the hint;
 * - otherwise (one prior receipt, today's `pending`) it reads through `peek` when the stream
 *   offers it — a direct get, served from the stream's store without the JetStream API's JSON
 *   (16 against 42 µs of server CPU measured) and possibly from a lagging replica. A stale read is
 *   safe: its sequence is older, so the publish loses the race; a decision NOT to write taken on
 *   it is confirmed on the leader before the receipt is dropped.
 * Every later round reads from the leader.
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
import { compareAndSet, isWrongLastSequence, type StoredMessage } from './jetstream.js';

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
  /**
   * Optional cheaper read of the subject's last message (a direct get) that may lag the leader;
   * used only for the first round's decision to write (see the header).
   */
  peek?(subject: string): Promise<StoredMessage | null>;
}

/**
 * What a writer learned about its subjects: whether the last write found its subject empty. One
 * per writer (process), shared by its writes; `writeReceipt` keeps it up to date.
 */
export interface ReceiptWriteHint {
  expectEmpty: boolean;
}

/** `written`, or why not: the subject already held this state, or a newer / further one. */
export type ReceiptWriteOutcome = 'written' | Exclude<ReceiptDecision, 'write'>;

export interface WriteReceiptOptions {
  /** @default {@link DEFAULT_CAS_ATTEMPTS} */
  attempts?: number;
  /** Try the empty-subject publish first while it keeps paying off (see the header). */
  hint?: ReceiptWriteHint;
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
  const { hint } = options;
  const startsSubject = receiptOnlyStartsSubject(receipt.status);
  return compareAndSet<ReceiptWriteOutcome>(
    async (attempt) => {
      if (attempt === 1 && (startsSubject || hint?.expectEmpty === true)) {
        try {
          await stream.publish(subject, data, 0);
        } catch (err) {
          // Something is there: read from now on (a `pending` writer has nothing to learn).
          if (hint !== undefined && !startsSubject && isWrongLastSequence(err)) hint.expectEmpty = false;
          throw err;
        }
        return 'written';
      }
      let last: StoredMessage | null;
      if (attempt === 1 && stream.peek !== undefined) {
        last = await stream.peek(subject);
        // A lagging copy is older than the truth: only the leader may make us drop the receipt.
        if (receiptTransition(storedState(last), receipt) !== 'write') last = await stream.last(subject);
      } else {
        last = await stream.last(subject);
      }
      if (hint !== undefined && attempt === 1) hint.expectEmpty = last === null;
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
