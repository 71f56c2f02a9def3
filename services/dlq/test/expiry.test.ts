/**
 * The expiry detector on a real nats-server whose ORDERS keeps orders 2 s: which targets of an
 * aged-out order it marks `expired` (and which it leaves alone), that it waits for orders still in
 * the stream, that repeating its work changes nothing, and that two replicas sharing the durable
 * consumer record every expiry exactly once.
 */
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import {
  orderAcceptedSubject,
  receiptSubject,
  stationSubject,
  type OrderAcceptedRecord,
  type Receipt,
} from '@orderwire/contracts';
import { STREAMS, createExpiredNotices, createLogger, createMetrics, ensureTopology, type ExpiredNotices } from '@orderwire/platform';
import { startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiptWriter } from '../src/dead-letter-receipts.js';
import { EXPIRED_REASON, createExpiryDetector, type ExpiryDetector } from '../src/expiry.js';
import { createDlqMetrics, type DlqMetrics } from '../src/metrics.js';

const MAX_AGE_MS = 2_000;

let nats: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let notices: ExpiredNotices;
let n = 0;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  await ensureTopology(nc, { ordersMaxAgeMs: MAX_AGE_MS, ordersDuplicateWindowMs: 1_000 });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  notices = createExpiredNotices(await new Kvm(js).open('ow_expired_notices'));
});

afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
});

function detector(consumer = 'dlq_expiry_test'): { d: ExpiryDetector; metrics: DlqMetrics; registry: ReturnType<typeof createMetrics> } {
  const registry = createMetrics({ service: 'dlq' });
  const metrics = createDlqMetrics(registry);
  const logger = createLogger({ service: 'dlq', version: '0', level: 'silent' });
  const receipts = createReceiptWriter({ js, jsm, timeoutMs: 5_000, metrics });
  const d = createExpiryDetector({
    js,
    jsm,
    receipts,
    notices,
    metrics,
    logger,
    consumer,
    batch: 16,
    maxAckPending: 256,
    ackWaitMs: 5_000,
    retryMaxMs: 1_000,
    timeoutMs: 5_000,
  });
  return { d, metrics, registry };
}

/** Publishes an order to its partition stream and writes its acceptance record as ingest does. */
async function accept(displayIds: string[], tenant = 't1'): Promise<OrderAcceptedRecord> {
  const orderId = `o-${++n}-${Date.now()}`;
  const ack = await js.publish(stationSubject(tenant, 's1', 'grill'), JSON.stringify({ orderId }));
  const record: OrderAcceptedRecord = {
    kind: 'order_accepted',
    tenant,
    orderId,
    at: Date.now(),
    traceId: `trace-${n}`,
    targets: displayIds.map((displayId) => ({ displayId, stream: ack.stream, seq: ack.seq })),
  };
  await js.publish(orderAcceptedSubject(tenant, orderId), JSON.stringify(record), { expect: { lastSubjectSequence: 0 } });
  return record;
}

async function receipt(r: Pick<Receipt, 'tenant' | 'orderId' | 'displayId'>): Promise<Receipt | undefined> {
  const m = await jsm.direct.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject(r.tenant, r.orderId, r.displayId) });
  return m === null ? undefined : m.json<Receipt>();
}

/** Waits until `stream` (the order's partition stream) no longer holds `seq`. */
async function gone(stream: string, seq: number): Promise<void> {
  await waitFor(async () => (await jsm.streams.info(stream)).state.first_seq > seq || undefined, {
    timeoutMs: 15_000,
    message: `${stream} removed seq ${seq} (max age ${MAX_AGE_MS} ms)`,
  });
}

describe('expiry detector', () => {
  it('waits for an order still in the stream, then marks only the displays that still owed it', async () => {
    const { d } = detector();
    const rec = await accept(['never-acked', 'acked', 'legacy-pending', 'dead']);
    const { stream, seq } = rec.targets[0]!;
    const early = await d.check(rec);
    expect(early.result).toBe('waiting');
    expect(early.delayMs).toBeGreaterThan(0);
    expect(early.delayMs).toBeLessThanOrEqual(MAX_AGE_MS);

    const base = { tenant: 't1', orderId: rec.orderId, stream, seq, at: Date.now() };
    await js.publish(receiptSubject('t1', rec.orderId, 'acked'), JSON.stringify({ ...base, displayId: 'acked', status: 'delivered', edge: 'e1' }));
    await js.publish(receiptSubject('t1', rec.orderId, 'legacy-pending'), JSON.stringify({ ...base, displayId: 'legacy-pending', status: 'pending' }));
    await js.publish(receiptSubject('t1', rec.orderId, 'dead'), JSON.stringify({ ...base, displayId: 'dead', status: 'dead_lettered' }));
    await gone(stream, seq);

    const r = await d.check(rec);
    expect(r).toEqual({ result: 'expired', expired: 2 });
    const expired = await receipt({ tenant: 't1', orderId: rec.orderId, displayId: 'never-acked' });
    expect(expired).toMatchObject({ status: 'expired', stream, seq, reason: EXPIRED_REASON, traceId: rec.traceId, tenant: 't1', orderId: rec.orderId });
    expect((await receipt({ tenant: 't1', orderId: rec.orderId, displayId: 'legacy-pending' }))?.status).toBe('expired');
    expect((await receipt({ tenant: 't1', orderId: rec.orderId, displayId: 'acked' }))?.status).toBe('delivered');
    expect((await receipt({ tenant: 't1', orderId: rec.orderId, displayId: 'dead' }))?.status).toBe('dead_lettered');

    const told = await notices.get('t1', 'never-acked');
    expect(told?.orders.map((o) => o.orderId)).toContain(rec.orderId);
    expect(told?.orders.find((o) => o.orderId === rec.orderId)).toEqual({ orderId: rec.orderId, expiredAt: expired!.at, acceptedAt: rec.at });
    expect(await notices.get('t1', 'acked')).toBeUndefined();
    expect(await notices.get('t1', 'dead')).toBeUndefined();

    // Doing it again (a redelivered record) changes nothing and counts nothing twice.
    const totalBefore = told!.total;
    expect(await d.check(rec)).toEqual({ result: 'settled', expired: 0 });
    expect((await notices.get('t1', 'never-acked'))!.total).toBe(totalBefore);
  });

  it('never hides an ack that landed after the order aged out, and leaves orders without targets alone', async () => {
    const { d } = detector();
    const rec = await accept(['late-ack']);
    const { stream, seq } = rec.targets[0]!;
    await gone(stream, seq);
    // The display's ack was confirmed just before the removal; its receipt lands before the detector.
    await js.publish(receiptSubject('t1', rec.orderId, 'late-ack'), JSON.stringify({ tenant: 't1', orderId: rec.orderId, displayId: 'late-ack', status: 'delivered', stream, seq, at: Date.now() }));
    expect(await d.check(rec)).toEqual({ result: 'settled', expired: 0 });
    expect(await notices.get('t1', 'late-ack')).toBeUndefined();
    expect(await d.check({ ...rec, targets: [] })).toEqual({ result: 'no_targets', expired: 0 });
  });

  it('two replicas on the durable consumer record every expiry exactly once', async () => {
    const a = detector('dlq_expiry_pair');
    const b = detector('dlq_expiry_pair');
    const displays = ['pair-1', 'pair-2'];
    const records: OrderAcceptedRecord[] = [];
    for (let i = 0; i < 12; i++) records.push(await accept(displays, 't2'));
    await Promise.all([a.d.start(), b.d.start()]);
    try {
      await waitFor(
        async () => {
          for (const d of displays) if ((await notices.get('t2', d))?.total !== records.length) return undefined;
          return true;
        },
        { timeoutMs: 20_000, message: 'both displays told about every order' },
      );
      for (const rec of records) {
        for (const displayId of displays) expect((await receipt({ tenant: 't2', orderId: rec.orderId, displayId }))?.status).toBe('expired');
      }
      for (const d of displays) {
        const told = await notices.get('t2', d);
        expect(new Set(told!.orders.map((o) => o.orderId)).size).toBe(records.length);
      }
      const counted = async (r: typeof a): Promise<number> => {
        const text = await r.registry.text();
        const m = /^orderwire_dlq_expired_orders_total(?:\{[^}]*\})? (\d+)/m.exec(text);
        return m === null ? 0 : Number(m[1]);
      };
      expect((await counted(a)) + (await counted(b))).toBe(records.length * displays.length);
    } finally {
      await Promise.all([a.d.stop(), b.d.stop()]);
    }
  });

  it('terminates a record it cannot read instead of retrying it forever', async () => {
    const { d, registry } = detector('dlq_expiry_malformed');
    await js.publish('receipts.t3.bm90LWEtcmVjb3Jk', JSON.stringify({ hello: 'world' }));
    await d.start();
    try {
      await waitFor(async () => /orderwire_dlq_expiry_records_total\{[^}]*result="malformed"[^}]*\} [1-9]/.test(await registry.text()) || undefined, {
        timeoutMs: 10_000,
        message: 'malformed record counted',
      });
    } finally {
      await d.stop();
    }
  });
});
