/**
 * The shared receipt compare-and-set against a real nats-server: concurrent writers of every
 * status on one subject, where every loser must re-read and either apply a legal transition or
 * drop its receipt. The stream here keeps every message per subject (RECEIPTS keeps one), so the
 * test can replay the subject's whole history and check each step against the state machine.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { receiptSubject, receiptTransition, type Receipt, type ReceiptStatus } from '@orderwire/contracts';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderwireError } from '../src/errors.js';
import { isWrongLastSequence, parseDirectGetReply, type StoredMessage } from '../src/jetstream.js';
import { closeNats, connectNats } from '../src/nats.js';
import { writeReceipt, type ReceiptStream, type ReceiptWriteHint } from '../src/receipt-write.js';
import { STREAMS } from '../src/topology.js';

const logger = pino({ level: 'silent' });
const TENANT = 't1';

let server: NatsServerHandle;
const conns: NatsConnection[] = [];
let jsm: JetStreamManager;
let clients: JetStreamClient[];

beforeAll(async () => {
  server = await startNats();
  for (let i = 0; i < 3; i++) conns.push(await connectNats({ servers: server.url, name: `receipt-writer-${i}`, logger }));
  jsm = await jetstreamManager(conns[0]!);
  // RECEIPTS as the topology declares it, except that history is kept for the checks below.
  await jsm.streams.add({ name: STREAMS.RECEIPTS, subjects: ['receipts.>'], allow_direct: true });
  clients = conns.map((nc) => jetstream(nc));
});
afterAll(async () => {
  for (const nc of conns) await closeNats(nc, logger);
  await server.dispose();
});

/** A ReceiptStream with a direct-get `peek`, counting leader reads, peeks and publishes. */
function optimistic(js: JetStreamClient, nc: NatsConnection, stale?: (subject: string) => StoredMessage | null): ReceiptStream & { reads: number; peeks: number; publishes: number; lost: number } {
  const base = instrumented(js);
  const s = {
    get reads() {
      return base.reads;
    },
    get lost() {
      return base.lost;
    },
    peeks: 0,
    publishes: 0,
    last: (subject: string) => base.last(subject),
    async peek(subject: string) {
      s.peeks++;
      if (stale !== undefined) return stale(subject);
      return parseDirectGetReply(await nc.request(`$JS.API.DIRECT.GET.${STREAMS.RECEIPTS}.${subject}`, new Uint8Array(0)));
    },
    async publish(subject: string, data: Uint8Array, expected: number) {
      s.publishes++;
      return base.publish(subject, data, expected);
    },
  };
  return s;
}

/** A ReceiptStream over one connection that counts reads and lost races. */
function instrumented(js: JetStreamClient): ReceiptStream & { reads: number; lost: number } {
  const s = {
    reads: 0,
    lost: 0,
    async last(subject: string) {
      s.reads++;
      return jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject });
    },
    async publish(subject: string, data: Uint8Array, expected: number) {
      try {
        return await js.publish(subject, data, { expect: { lastSubjectSequence: expected } });
      } catch (err) {
        if (isWrongLastSequence(err)) s.lost++;
        throw err;
      }
    },
  };
  return s;
}

function receipt(orderId: string, status: ReceiptStatus, seq: number): Receipt {
  return { tenant: TENANT, orderId, displayId: 'd1', status, stream: 'ORDERS_P0', seq, at: Date.now() };
}

/** Every receipt ever stored on the order's subject, oldest first. */
async function history(orderId: string): Promise<Receipt[]> {
  const subject = receiptSubject(TENANT, orderId, 'd1');
  const info = await jsm.streams.info(STREAMS.RECEIPTS);
  const out: Receipt[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.RECEIPTS, { seq });
    if (m !== null && m.subject === subject) out.push(m.json<Receipt>());
  }
  return out;
}

function expectLegalHistory(h: readonly Receipt[]): void {
  for (let i = 1; i < h.length; i++) {
    const step = `${h[i - 1]!.status}@${h[i - 1]!.seq} → ${h[i]!.status}@${h[i]!.seq}`;
    expect(receiptTransition(h[i - 1], h[i]!), step).toBe('write');
  }
}

describe('writeReceipt', () => {
  it('pending starts an empty subject without a read; a second pending finds it and writes nothing', async () => {
    const s = instrumented(clients[0]!);
    expect(await writeReceipt(s, receipt('o-first', 'pending', 5))).toBe('written');
    expect(s.reads).toBe(0);
    expect(await writeReceipt(s, receipt('o-first', 'pending', 5))).toBe('unchanged');
    expect(await writeReceipt(s, receipt('o-first', 'delivered', 5))).toBe('written');
    expect(await writeReceipt(s, receipt('o-first', 'pending', 5))).toBe('superseded');
    expect((await history('o-first')).map((r) => r.status)).toEqual(['pending', 'delivered']);
  });

  it('concurrent writers of every status for one message: delivered always ends up stored, every step legal', async () => {
    const statuses: ReceiptStatus[] = ['pending', 'delivered', 'dead_lettered', 'replayed'];
    const streams = clients.map(instrumented);
    for (let round = 0; round < 12; round++) {
      const orderId = `o-race-${round}`;
      // A different start order each round, spread over three connections.
      const order = statuses.map((_, i) => statuses[(i + round) % statuses.length]!);
      const outcomes = await Promise.all(order.map((status, i) => writeReceipt(streams[i % streams.length]!, receipt(orderId, status, 10))));
      const h = await history(orderId);
      expectLegalHistory(h);
      expect(h.at(-1)?.status, `round ${round}`).toBe('delivered');
      expect(outcomes[order.indexOf('delivered')]).toBe('written');
      expect(h.filter((r) => r.status === 'delivered')).toHaveLength(1);
    }
    // The writers really raced: losers re-read and decided again.
    expect(streams.reduce((n, s) => n + s.lost, 0)).toBeGreaterThan(0);
  });

  it('a replay racing the late receipt of the original: the newer copy wins whatever lands first', async () => {
    const streams = clients.map(instrumented);
    for (let round = 0; round < 8; round++) {
      const orderId = `o-replay-${round}`;
      await writeReceipt(streams[0]!, receipt(orderId, 'dead_lettered', 20));
      const writes = [
        () => writeReceipt(streams[0]!, receipt(orderId, 'replayed', 30)),
        () => writeReceipt(streams[1]!, receipt(orderId, 'delivered', 30)),
        () => writeReceipt(streams[2]!, receipt(orderId, 'delivered', 20)), // the original's late ack
        () => writeReceipt(streams[0]!, receipt(orderId, 'pending', 20)), // a slow duplicate request
      ];
      const shuffled = round % 2 === 0 ? writes : [...writes].reverse();
      await Promise.all(shuffled.map((w) => w()));
      const h = await history(orderId);
      expectLegalHistory(h);
      expect(h.at(-1), `round ${round}`).toMatchObject({ status: 'delivered', seq: 30 });
      expect(h.some((r) => r.status === 'pending')).toBe(false);
    }
  });

  it('a stored message that is not a receipt is replaced', async () => {
    const s = instrumented(clients[0]!);
    await clients[0]!.publish(receiptSubject(TENANT, 'o-junk', 'd1'), 'not json');
    expect(await writeReceipt(s, receipt('o-junk', 'dead_lettered', 3))).toBe('written');
  });

  it('gives up with ORDERWIRE_ERR_RECEIPT_CONFLICT when other writers win every round', async () => {
    const s = instrumented(clients[0]!);
    await writeReceipt(s, receipt('o-hot', 'pending', 1));
    // Another writer lands between every read and publish of ours.
    let other = 1;
    const contended: ReceiptStream = {
      last: async (subject) => {
        const m = await s.last(subject);
        await writeReceipt(s, receipt('o-hot', 'dead_lettered', ++other));
        return m;
      },
      publish: (subject, data, expected) => s.publish(subject, data, expected),
    };
    const err = await writeReceipt(contended, receipt('o-hot', 'delivered', 1_000), { attempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OrderwireError);
    expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_RECEIPT_CONFLICT');
    expect(s.lost).toBe(3);
  });

  it('optimistic: one publish on an empty subject once the hint says so; a direct get + publish over one prior receipt', async () => {
    const s = optimistic(clients[0]!, conns[0]!);
    const hint: ReceiptWriteHint = { expectEmpty: true };
    expect(await writeReceipt(s, receipt('o-opt-empty', 'delivered', 4), { hint })).toBe('written');
    expect({ reads: s.reads, peeks: s.peeks, publishes: s.publishes }).toEqual({ reads: 0, peeks: 0, publishes: 1 });
    expect(hint.expectEmpty).toBe(true);

    // A pending precedes the delivered (ingest today): the bet is lost once, the hint flips…
    await writeReceipt(s, receipt('o-opt-prior-1', 'pending', 6));
    await writeReceipt(s, receipt('o-opt-prior-2', 'pending', 7));
    const before = { reads: s.reads, peeks: s.peeks, publishes: s.publishes };
    expect(await writeReceipt(s, receipt('o-opt-prior-1', 'delivered', 6), { hint })).toBe('written');
    expect(hint.expectEmpty).toBe(false);
    // …and the next write reads with a direct get (no leader read) and publishes once.
    expect(await writeReceipt(s, receipt('o-opt-prior-2', 'delivered', 7), { hint })).toBe('written');
    expect({ reads: s.reads - before.reads, peeks: s.peeks - before.peeks, publishes: s.publishes - before.publishes }).toEqual({
      reads: 1, // the round after the lost bet on o-opt-prior-1
      peeks: 1,
      publishes: 3, // lost bet + retry, then one for o-opt-prior-2
    });
    expect((await history('o-opt-prior-2')).map((r) => r.status)).toEqual(['pending', 'delivered']);
    // An empty subject seen by the read turns the bet back on.
    expect(await writeReceipt(s, receipt('o-opt-empty-2', 'delivered', 8), { hint })).toBe('written');
    expect(hint.expectEmpty).toBe(true);
  });

  it('optimistic writers racing every status keep every step legal; a lagging direct get never drops a receipt', async () => {
    const statuses: ReceiptStatus[] = ['pending', 'delivered', 'dead_lettered', 'replayed'];
    // Two writers peek a replica that saw nothing yet, one peeks the real stream.
    const streams = [
      optimistic(clients[0]!, conns[0]!, () => null),
      optimistic(clients[1]!, conns[1]!),
      optimistic(clients[2]!, conns[2]!, () => null),
    ];
    for (let round = 0; round < 12; round++) {
      const orderId = `o-opt-race-${round}`;
      const order = statuses.map((_, i) => statuses[(i + round) % statuses.length]!);
      const hints = order.map((): ReceiptWriteHint => ({ expectEmpty: round % 2 === 0 }));
      const outcomes = await Promise.all(order.map((status, i) => writeReceipt(streams[i % streams.length]!, receipt(orderId, status, 10), { hint: hints[i]! })));
      const h = await history(orderId);
      expectLegalHistory(h);
      expect(h.at(-1)?.status, `round ${round}`).toBe('delivered');
      expect(outcomes[order.indexOf('delivered')]).toBe('written');
      expect(h.filter((r) => r.status === 'delivered')).toHaveLength(1);
    }
    expect(streams.reduce((n, s) => n + s.lost, 0)).toBeGreaterThan(0);
  });

  it('a decision not to write taken on a lagging read is confirmed on the leader first', async () => {
    const s0 = instrumented(clients[0]!);
    await writeReceipt(s0, receipt('o-opt-stale', 'dead_lettered', 40));
    await writeReceipt(s0, receipt('o-opt-stale', 'replayed', 50));
    // The lagging copy still shows a delivered of the replayed copy that never happened there.
    const fake = { seq: 1, data: new TextEncoder().encode(JSON.stringify(receipt('o-opt-stale', 'delivered', 50))) };
    const s = optimistic(clients[0]!, conns[0]!, () => fake);
    expect(await writeReceipt(s, receipt('o-opt-stale', 'delivered', 50), { hint: { expectEmpty: false } })).toBe('written');
    expect((await history('o-opt-stale')).at(-1)).toMatchObject({ status: 'delivered', seq: 50 });
  });
});
