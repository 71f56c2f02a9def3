import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OrderwireError } from '../src/errors.js';
import { closeNats, connectNats } from '../src/nats.js';
import {
  ADVISORY_SUBJECTS,
  KV_BUCKETS,
  STREAMS,
  deleteDisplayConsumer,
  displayConsumerConfig,
  ensureDisplayConsumer,
  ensureTopology,
  kvStreamName,
} from '../src/topology.js';

const NS = 1_000_000;
const logger = pino({ level: 'silent' });

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

// A fresh server per test: deleting a file stream and re-creating it at once can race the
// server's removal of the old store ("error creating store for stream").
beforeEach(async () => {
  server = await startNats();
  nc = await connectNats({ servers: server.url, name: 'topology-test', logger });
  jsm = await jetstreamManager(nc);
});
afterEach(async () => {
  await closeNats(nc, logger);
  await server.dispose();
});

async function expectConflict(p: Promise<unknown>): Promise<OrderwireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OrderwireError);
  expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_TOPOLOGY_CONFLICT');
  return err as OrderwireError;
}

describe('ensureTopology', () => {
  it('creates every stream and bucket as declared, then is idempotent', async () => {
    const first = await ensureTopology(nc, { logger });
    expect(first.items).toHaveLength(13);
    expect(first.items.every((i) => i.action === 'created')).toBe(true);

    const orders = (await jsm.streams.info(STREAMS.ORDERS)).config;
    expect(orders).toMatchObject({
      subjects: ['orders.>'],
      storage: 'file',
      retention: 'limits',
      max_age: 7 * 24 * 3600 * 1000 * NS,
      duplicate_window: 2 * 3600 * 1000 * NS,
      discard: 'old',
      allow_direct: true,
      max_msg_size: 256 * 1024,
      num_replicas: 1,
      republish: { src: 'orders.>', dest: 'ow.ring.orders.>', headers_only: true },
      max_consumers: 100_000,
    });
    expect((await jsm.streams.info(STREAMS.RECEIPTS)).config).toMatchObject({
      subjects: ['receipts.>'],
      max_msgs_per_subject: 1,
      allow_direct: true,
    });
    expect((await jsm.streams.info(STREAMS.ADVISORIES)).config.subjects.sort()).toEqual(
      [ADVISORY_SUBJECTS.maxDeliveries, ADVISORY_SUBJECTS.terminated].sort(),
    );
    expect((await jsm.streams.info(STREAMS.DLQ)).config).toMatchObject({ subjects: ['dlq.>'], max_msgs_per_subject: 1, max_age: 0 });
    expect((await jsm.streams.info(STREAMS.AUDIT)).config).toMatchObject({
      deny_delete: true,
      deny_purge: true,
      max_age: 365 * 24 * 3600 * 1000 * NS,
    });
    const enrollments = (await jsm.streams.info(kvStreamName(KV_BUCKETS.ENROLLMENTS))).config;
    expect(enrollments).toMatchObject({ storage: 'file', max_age: 15 * 60 * 1000 * NS, max_msgs_per_subject: 1 });
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.SIGNING_KEYS))).config.max_msgs_per_subject).toBe(5);
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.LEASES))).config.max_age).toBe(30_000 * NS);
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.REFRESH_TOKENS))).config.max_age).toBe(30 * 24 * 3600 * 1000 * NS);

    const second = await ensureTopology(nc, { logger });
    expect(second.items.map((i) => i.action)).toEqual(Array(13).fill('unchanged'));
    expect(second.streams.ORDERS).toBe('unchanged');
    expect(second.buckets.ow_displays).toBe('unchanged');

    // The buckets work as KV stores.
    const kv = await new Kvm(nc).open(KV_BUCKETS.DISPLAYS);
    await kv.put('t1.d1', 'x');
    expect((await kv.get('t1.d1'))?.string()).toBe('x');
  });

  it('updates fields JetStream can change in place', async () => {
    await ensureTopology(nc);
    const summary = await ensureTopology(nc, { ordersMaxAgeMs: 3 * 24 * 3600 * 1000, enrollmentTtlMs: 60_000, logger });
    expect(summary.streams.ORDERS).toBe('updated');
    expect(summary.items.find((i) => i.name === 'ORDERS')?.changed).toEqual(['max_age']);
    expect(summary.buckets.ow_enrollments).toBe('updated');
    expect(summary.streams.RECEIPTS).toBe('unchanged');
    expect((await jsm.streams.info(STREAMS.ORDERS)).config.max_age).toBe(3 * 24 * 3600 * 1000 * NS);
    // A TTL shorter than the bucket's duplicate window is fixed up, not rejected.
    const enr = (await jsm.streams.info(kvStreamName(KV_BUCKETS.ENROLLMENTS))).config;
    expect(enr.max_age).toBe(60_000 * NS);
    expect(enr.duplicate_window).toBeLessThanOrEqual(60_000 * NS);

    // An operator widened the subjects and changed max_msg_size: ensure restores the declaration.
    const cur = (await jsm.streams.info(STREAMS.RECEIPTS)).config;
    await jsm.streams.update(STREAMS.RECEIPTS, { ...cur, subjects: ['receipts.>', 'extra.>'], max_msgs_per_subject: 5 });
    const again = await ensureTopology(nc);
    expect(again.items.find((i) => i.name === 'RECEIPTS')).toMatchObject({
      action: 'updated',
      changed: ['subjects', 'max_msgs_per_subject'],
    });
    expect((await jsm.streams.info(STREAMS.RECEIPTS)).config).toMatchObject({ subjects: ['receipts.>'], max_msgs_per_subject: 1 });
  });

  it('rings ow.ring.<subject> with the headers of every stored order, after the store', async () => {
    await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    const sub = nc.subscribe('ow.ring.orders.t1.s1.>', { max: 1 });
    const js = jetstream(nc);
    const ack = await js.publish('orders.t1.s1.grill', new TextEncoder().encode('{"big":"payload"}'));
    for await (const m of sub) {
      expect(m.subject).toBe('ow.ring.orders.t1.s1.grill');
      expect(m.data).toHaveLength(0); // headers only
      expect(m.headers?.get('Nats-Sequence')).toBe(String(ack.seq));
      expect(m.headers?.get('Nats-Subject')).toBe('orders.t1.s1.grill');
    }
    // Declared nested settings compare by value: a second run changes nothing.
    const again = await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    expect(again.items[0]).toMatchObject({ name: 'ORDERS', action: 'unchanged' });
  });

  it('leaves an ORDERS stream created without a consumer limit as it is (the server cannot add one)', async () => {
    await jsm.streams.add({ name: STREAMS.ORDERS, subjects: ['orders.>'], storage: 'file' });
    const result = await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    expect(result.items[0]).toMatchObject({ name: 'ORDERS', action: 'updated' });
    expect(result.items[0]?.changed).not.toContain('max_consumers');
    expect((await jsm.streams.info(STREAMS.ORDERS)).config.max_consumers).toBe(-1);
  });

  it('refuses to touch ORDERS created with memory storage, naming the stream and field, and changes nothing', async () => {
    await jsm.streams.add({ name: STREAMS.ORDERS, subjects: ['orders.>'], storage: 'memory' });
    const err = await expectConflict(ensureTopology(nc, { logger }));
    expect(err.message).toContain('ORDERS');
    expect(err.message).toContain('storage');
    expect(err.details).toEqual({
      conflicts: [{ kind: 'stream', name: 'ORDERS', field: 'storage', existing: 'memory', declared: 'file' }],
    });
    // Planned first, so nothing else was created.
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names).toEqual([STREAMS.ORDERS]);
    expect((await jsm.streams.info(STREAMS.ORDERS)).config.storage).toBe('memory');
  });

  it('reports an AUDIT stream without deny_delete / deny_purge as a conflict', async () => {
    await jsm.streams.add({ name: STREAMS.AUDIT, subjects: ['audit.>'], storage: 'file' });
    const err = await expectConflict(ensureTopology(nc, { streams: [STREAMS.AUDIT], buckets: [] }));
    expect(err.message).toContain('AUDIT');
    expect(err.message).toContain('deny_delete, deny_purge');
  });

  it('reports a changed retention policy and a KV bucket with memory storage', async () => {
    await jsm.streams.add({ name: STREAMS.DLQ, subjects: ['dlq.>'], storage: 'file', retention: 'workqueue' });
    await new Kvm(nc).create(KV_BUCKETS.LEASES, { storage: 'memory', ttl: 30_000 });
    const err = await expectConflict(ensureTopology(nc));
    const fields = (err.details as { conflicts: { name: string; field: string }[] }).conflicts.map((c) => `${c.name}.${c.field}`);
    expect(fields).toEqual(['DLQ.retention', 'ow_leases.storage']);
  });

  it('AUDIT refuses message deletion and purge', async () => {
    await ensureTopology(nc, { streams: [STREAMS.AUDIT], buckets: [] });
    const js = jsm.jetstream();
    const ack = await js.publish('audit.t1.token.revoked', JSON.stringify({ displayId: 'd1' }));
    await expect(jsm.streams.purge(STREAMS.AUDIT)).rejects.toThrow();
    await expect(jsm.streams.deleteMessage(STREAMS.AUDIT, ack.seq)).rejects.toThrow();
    expect((await jsm.streams.info(STREAMS.AUDIT)).state.messages).toBe(1);
  });

  it('ORDERS drops a duplicate Nats-Msg-Id inside the window', async () => {
    await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    const js = jsm.jetstream();
    const a = await js.publish('orders.t1.s1.grill', 'x', { msgID: 'order-1' });
    const b = await js.publish('orders.t1.s1.grill', 'x', { msgID: 'order-1' });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
  });

  it('is safe when several services ensure at the same time', async () => {
    const conns = await Promise.all([1, 2, 3].map((i) => connectNats({ servers: server.url, name: `svc-${i}`, logger })));
    try {
      const results = await Promise.all(conns.map((c) => ensureTopology(c)));
      for (const name of Object.values(STREAMS)) {
        const actions = results.map((r) => r.streams[name]);
        expect(actions.every((a) => a === 'created' || a === 'unchanged')).toBe(true);
      }
      expect((await ensureTopology(nc)).items.every((i) => i.action === 'unchanged')).toBe(true);
    } finally {
      await Promise.all(conns.map((c) => closeNats(c, logger)));
    }
  });
});

describe('display consumers', () => {
  const display = { tenant: 't1', store: 's1', displayId: 'kds-1', stations: ['grill', 'fry'] };

  beforeEach(async () => {
    await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
  });

  it('declares a durable explicit-ack pull consumer without an inactivity threshold', () => {
    const cfg = displayConsumerConfig(display);
    expect(cfg).toEqual({
      durable_name: 'display_t1_kds-1',
      filter_subjects: ['orders.t1.s1.grill', 'orders.t1.s1.fry', 'orders.t1.s1.display.kds-1'],
      ack_policy: 'explicit',
      deliver_policy: 'new',
      replay_policy: 'instant',
      ack_wait: 20_000 * NS,
      max_ack_pending: 256,
      max_deliver: 50,
    });
    expect(displayConsumerConfig(display, { backoffMs: [1_000, 5_000] })).toMatchObject({
      backoff: [1_000 * NS, 5_000 * NS],
      ack_wait: 1_000 * NS,
    });
    expect(() => displayConsumerConfig(display, { maxDeliver: 2, backoffMs: [1, 2] })).toThrow(/fewer entries than max_deliver/);
    expect(() => displayConsumerConfig({ ...display, stations: ['a.b'] })).toThrow(/invalid station id/);
  });

  it('creates, leaves unchanged, updates filter subjects, and deletes', async () => {
    const created = await ensureDisplayConsumer(jsm, display);
    expect(created.action).toBe('created');
    expect(created.info.config.durable_name).toBe('display_t1_kds-1');
    expect(created.info.config.inactive_threshold ?? 0).toBe(0);

    expect((await ensureDisplayConsumer(jsm, display)).action).toBe('unchanged');

    const updated = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill', 'expo'] });
    expect(updated.action).toBe('updated');
    expect(updated.changed).toEqual(['filter_subjects']);
    expect(updated.info.config.filter_subjects?.sort()).toEqual(
      ['orders.t1.s1.expo', 'orders.t1.s1.grill', 'orders.t1.s1.display.kds-1'].sort(),
    );

    // The mailbox receives station and targeted messages only.
    const js = jsm.jetstream();
    await js.publish('orders.t1.s1.expo', 'a');
    await js.publish('orders.t1.s1.fry', 'not for me');
    await js.publish('orders.t1.s1.display.kds-1', 'b');
    await js.publish('orders.t1.s1.display.kds-2', 'not for me');
    const consumer = await js.consumers.get(STREAMS.ORDERS, 'display_t1_kds-1');
    const got: string[] = [];
    const batch = await consumer.fetch({ max_messages: 10, expires: 1_000 });
    for await (const m of batch) {
      got.push(m.string());
      m.ack();
    }
    expect(got).toEqual(['a', 'b']);

    const limits = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill', 'expo'] }, { maxAckPending: 32, backoffMs: [1_000] });
    expect(limits).toMatchObject({ action: 'updated', changed: ['ack_wait', 'max_ack_pending', 'backoff'] });
    expect(limits.info.config.ack_wait).toBe(1_000 * NS);
    const same = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill', 'expo'] }, { maxAckPending: 32, backoffMs: [1_000] });
    expect(same.action).toBe('unchanged');
    const cleared = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill', 'expo'] }, { maxAckPending: 32 });
    expect(cleared).toMatchObject({ action: 'updated', changed: ['ack_wait', 'backoff'] });
    expect(cleared.info.config.backoff ?? []).toEqual([]);
    expect(cleared.info.config.ack_wait).toBe(20_000 * NS);

    expect(await deleteDisplayConsumer(jsm, 't1', 'kds-1')).toBe(true);
    await expect(jsm.consumers.info(STREAMS.ORDERS, 'display_t1_kds-1')).rejects.toThrow(/consumer not found/);
    // Deleting again is not an error.
    expect(await deleteDisplayConsumer(jsm, 't1', 'kds-1')).toBe(false);
  });

  it('refuses to change an immutable consumer field', async () => {
    await jsm.consumers.add(STREAMS.ORDERS, {
      durable_name: 'display_t1_kds-1',
      ack_policy: 'explicit',
      deliver_policy: 'all',
      filter_subjects: ['orders.t1.s1.grill'],
    });
    const err = await expectConflict(ensureDisplayConsumer(jsm, display));
    expect(err.message).toContain('display_t1_kds-1');
    expect(err.message).toContain('deliver_policy');
  });
});
