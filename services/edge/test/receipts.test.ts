/**
 * The edge's `delivered` receipt goes through the shared compare-and-set over the reply mux: it
 * replaces `pending` and a dead-letter of the same message, and never hides the state of a newer
 * copy of the order (a replay).
 */
import { headers, MsgHdrsImpl, type MsgHdrs } from '@nats-io/nats-core';
import { PubHeaders } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { receiptSubject, type Receipt } from '@orderwire/contracts';
import { createLogger, isWrongLastSequence, parsePubAck, STREAMS, writeReceipt, type ReceiptStream } from '@orderwire/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiptWriter, EXPECT_EMPTY_SUBJECT, expectLastSubjectSequence, type ReceiptWriter } from '../src/delivery/receipt-writer.js';
import { createReplyMux, type ReplyMux } from '../src/delivery/reply-mux.js';
import { startInfra, type Infra } from './support/infra.js';

const logger = createLogger({ service: 'edge', version: 'test', level: 'silent' });
let infra: Infra;
let mux: ReplyMux;
let writer: ReceiptWriter;
let other: ReceiptStream;

beforeAll(async () => {
  infra = await startInfra();
  mux = createReplyMux(infra.nc, logger);
  writer = createReceiptWriter({ mux, instanceId: 'edge-test', timeoutMs: 5_000 });
  // Another service's writer (ingest, DLQ), through the client library.
  other = {
    last: (subject) => infra.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject }),
    publish: (subject, data, expected) => infra.js.publish(subject, data, { expect: { lastSubjectSequence: expected } }),
  };
});
afterAll(async () => {
  mux?.close();
  await infra?.dispose();
});

const ids = (orderId: string) => ({ tenant: 't1', orderId, displayId: 'd1', stream: 'ORDERS_P0' });

async function stored(orderId: string): Promise<Receipt | undefined> {
  return (await infra.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject('t1', orderId, 'd1') }))?.json<Receipt>();
}

describe('edge delivered receipts', () => {
  it('writes into an empty subject and over pending; a second delivered for the message is unchanged', async () => {
    expect(await writer.delivered({ ...ids('o1'), seq: 7, deliveryCount: 1 })).toBe('written');
    expect(await stored('o1')).toMatchObject({ status: 'delivered', seq: 7, edge: 'edge-test', deliveryCount: 1 });

    await writeReceipt(other, { ...ids('o2'), status: 'pending', seq: 8, at: 1 });
    expect(await writer.delivered({ ...ids('o2'), seq: 8, deliveryCount: 1 })).toBe('written');
    expect(await writer.delivered({ ...ids('o2'), seq: 8, deliveryCount: 2 })).toBe('unchanged');
    expect(await stored('o2')).toMatchObject({ status: 'delivered', seq: 8, deliveryCount: 1 });
  });

  it('a late delivered of the original never hides the replayed copy', async () => {
    await writeReceipt(other, { ...ids('o3'), status: 'dead_lettered', seq: 10, at: 1 });
    await writeReceipt(other, { ...ids('o3'), status: 'replayed', seq: 20, at: 2 });
    expect(await writer.delivered({ ...ids('o3'), seq: 10, deliveryCount: 5 })).toBe('superseded');
    expect(await stored('o3')).toMatchObject({ status: 'replayed', seq: 20 });
    expect(await writer.delivered({ ...ids('o3'), seq: 20, deliveryCount: 1 })).toBe('written');
    expect(await stored('o3')).toMatchObject({ status: 'delivered', seq: 20 });
  });

  it('a RECEIPTS failure is ORDERWIRE_ERR_EDGE_RECEIPT_FAILED naming the subject', async () => {
    const nc = await connect({ servers: infra.nats.url });
    const lost = createReplyMux(nc, logger);
    await nc.close();
    try {
      const broken = createReceiptWriter({ mux: lost, instanceId: 'edge-test', timeoutMs: 1_000 });
      await expect(broken.delivered({ ...ids('o4'), seq: 1, deliveryCount: 1 })).rejects.toMatchObject({
        code: 'ORDERWIRE_ERR_EDGE_RECEIPT_FAILED',
        message: expect.stringContaining(receiptSubject('t1', 'o4', 'd1')) as unknown,
      });
    } finally {
      lost.close();
    }
  });

  it("builds the expectation header as the client library does, byte for byte, and the server enforces it", async () => {
    const library = (seq: number): Uint8Array => {
      const h = headers();
      h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, `${seq}`);
      expect(h).toBeInstanceOf(MsgHdrsImpl);
      return (h as MsgHdrsImpl).encode();
    };
    for (const seq of [0, 1, 42, 987_654_321]) expect(expectLastSubjectSequence(seq).encode()).toEqual(library(seq));
    expect(EXPECT_EMPTY_SUBJECT.encode()).toEqual(library(0));
    expect(EXPECT_EMPTY_SUBJECT.encode()).toEqual(library(0)); // encoded once, handed out again unchanged
    expect(EXPECT_EMPTY_SUBJECT.get(PubHeaders.ExpectedLastSubjectSequenceHdr)).toBe('0');

    // On a real server: the shared header lets only the first write into an empty subject through;
    // the hand-built one with the right sequence writes after it, with a wrong one is refused.
    const subject = receiptSubject('t1', 'o5', 'd1');
    const publish = async (h: MsgHdrs) => parsePubAck((await mux.request(subject, '{}', { timeoutMs: 5_000, headers: h })).data);
    const first = await publish(EXPECT_EMPTY_SUBJECT);
    const refused = await publish(EXPECT_EMPTY_SUBJECT).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isWrongLastSequence(refused)).toBe(true);
    expect(await publish(expectLastSubjectSequence(first.seq + 1)).catch((err: unknown) => isWrongLastSequence(err))).toBe(true);
    expect((await publish(expectLastSubjectSequence(first.seq))).seq).toBeGreaterThan(first.seq);
  });
});
