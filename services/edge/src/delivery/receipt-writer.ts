/**
 * Delivery receipts on RECEIPTS (`receipts.<tenant>.<orderKey>.<displayId>`, last per
 * subject): ingest answers `GET /v1/orders/:orderId` from them. A receipt is written after the
 * display's ack was confirmed by JetStream and never affects the order itself.
 *
 * Written with the shared compare-and-set (`writeReceipt`, the contracts' receipt state machine),
 * so a `delivered` never hides the state of a newer copy of the order (a replay). The reads
 * (a direct get first, the stream leader after a lost race) and the publish go over the shared
 * request/reply inbox, like the double acks (ADR 0002). The writer keeps one hint for all its
 * writes: while its subjects turn out empty (no per-display `pending` before the `delivered`), it
 * publishes without reading — one round trip per receipt.
 */
import { MsgHdrsImpl } from '@nats-io/nats-core';
import { PubHeaders } from '@nats-io/jetstream';
import { receiptSubject, type Receipt } from '@orderwire/contracts';
import {
  STREAMS,
  parseDirectGetReply,
  parseMsgGetReply,
  parsePubAck,
  writeReceipt,
  type ReceiptStream,
  type ReceiptWriteHint,
  type ReceiptWriteOutcome,
} from '@orderwire/platform';
import { EDGE_ERRORS } from '../errors.js';
import type { ReplyMux } from './reply-mux.js';

export interface DeliveredReceipt {
  tenant: string;
  orderId: string;
  displayId: string;
  /** Order stream of `seq` (the message's own). */
  stream: string;
  seq: number;
  deliveryCount: number;
}

export interface ReceiptWriter {
  /**
   * Writes a `delivered` receipt unless the subject holds a state it must not replace.
   * @throws OrderwireError ORDERWIRE_ERR_EDGE_RECEIPT_FAILED when RECEIPTS cannot be read or written
   */
  delivered(r: DeliveredReceipt): Promise<ReceiptWriteOutcome>;
}

export interface ReceiptWriterOptions {
  mux: ReplyMux;
  instanceId: string;
  timeoutMs: number;
}

/** The RECEIPTS stream's leader-read API subject (the default JetStream API prefix, as the puller uses). */
const RECEIPTS_MSG_GET = `$JS.API.STREAM.MSG.GET.${STREAMS.RECEIPTS}`;
/** The direct-get prefix: `<prefix>.<subject>` answers the subject's last message. */
const RECEIPTS_DIRECT_GET = `$JS.API.DIRECT.GET.${STREAMS.RECEIPTS}`;
const EMPTY = new Uint8Array(0);

/**
 * The publish headers of a receipt: `Nats-Expected-Last-Subject-Sequence: <seq>`, as `headers()`
 * and `set()` make them (the same wire bytes, pinned by receipts.test.ts), without `set()`'s key
 * scans and canonicalisation.
 */
export function expectLastSubjectSequence(seq: number): MsgHdrsImpl {
  const h = new MsgHdrsImpl();
  h.headers.set(PubHeaders.ExpectedLastSubjectSequenceHdr, [`${seq}`]);
  return h;
}

/**
 * The headers of nearly every receipt (its subject is empty: no `pending` precedes a `delivered`),
 * encoded once: the client encodes a publish's headers on every publish and reads nothing else.
 */
class EncodedHeaders extends MsgHdrsImpl {
  private readonly bytes: Uint8Array;
  constructor(from: MsgHdrsImpl) {
    super();
    for (const [name, values] of from) this.headers.set(name, [...values]);
    this.bytes = from.encode();
  }
  override encode(): Uint8Array {
    return this.bytes;
  }
}
/** `Nats-Expected-Last-Subject-Sequence: 0`, encoded once; shared, so never to be modified. */
export const EXPECT_EMPTY_SUBJECT: MsgHdrsImpl = new EncodedHeaders(expectLastSubjectSequence(0));

/** A ReceiptStream over the reply mux: a direct get, STREAM.MSG.GET from the leader, a plain publish with the expectation header. */
function muxReceiptStream(mux: ReplyMux, timeoutMs: number): ReceiptStream {
  return {
    async last(subject) {
      const reply = await mux.request(RECEIPTS_MSG_GET, JSON.stringify({ last_by_subj: subject }), { timeoutMs });
      return parseMsgGetReply(reply.data);
    },
    async peek(subject) {
      return parseDirectGetReply(await mux.request(`${RECEIPTS_DIRECT_GET}.${subject}`, EMPTY, { timeoutMs }));
    },
    async publish(subject, data, expected) {
      const reply = await mux.request(subject, data, { timeoutMs, headers: expected === 0 ? EXPECT_EMPTY_SUBJECT : expectLastSubjectSequence(expected) });
      return parsePubAck(reply.data);
    },
  };
}

export function createReceiptWriter(options: ReceiptWriterOptions): ReceiptWriter {
  const { instanceId } = options;
  const stream = muxReceiptStream(options.mux, options.timeoutMs);
  // Starts by reading: today ingest writes a `pending` before every `delivered`.
  const hint: ReceiptWriteHint = { expectEmpty: false };
  return {
    async delivered(r) {
      const receipt: Receipt = {
        tenant: r.tenant,
        orderId: r.orderId,
        displayId: r.displayId,
        status: 'delivered',
        stream: r.stream,
        seq: r.seq,
        at: Date.now(),
        edge: instanceId,
        deliveryCount: r.deliveryCount,
      };
      try {
        return await writeReceipt(stream, receipt, { hint });
      } catch (err) {
        const subject = receiptSubject(r.tenant, r.orderId, r.displayId);
        const reason = err instanceof Error ? err.message : String(err);
        throw EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_RECEIPT_FAILED', { subject, reason }, { cause: err });
      }
    },
  };
}
