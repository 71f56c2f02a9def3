import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { displayConsumerName, displaySubject, orderPartition, stationSubject } from '@orderwire/contracts';
import { orderStreamFor, readOrderStreamAssignment } from '../src/order-streams.js';
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
  TOPOLOGY_DEFAULTS,
  deleteDisplayConsumer,
  displayConsumerConfig,
  displayConsumerMetadata,
  ensureDisplayConsumer,
  ensureTopology,
  kvDeclarations,
  kvStreamName,
  streamDeclarations,
  verifyTopology,
} from '../src/topology.js';
import { formatSize, loadTopologyConfig, parseSize } from '../src/topology-config.js';
import { ConfigError } from '../src/config.js';

/** Streams and KV buckets the topology declares (each bucket is a stream too). */
const DECLARED = streamDeclarations().length + kvDeclarations().length;

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

/** The order stream that owns (tenant, store)'s vp now. */
async function ordersOf(tenant: string, store: string): Promise<string> {
  const stream = await orderStreamFor(jsm, tenant, store);
  if (stream === undefined) throw new Error(`no order stream for ${tenant}/${store}`);
  return stream;
}

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
    // P = 2 order partition streams (the default) + the other streams + the buckets.
    expect(first.items).toHaveLength(DECLARED);
    expect(first.items.every((i) => i.action === 'created')).toBe(true);
    expect(first.streams.ORDERS).toBe('created');

    const p0 = (await jsm.streams.info('ORDERS_P0')).config;
    const p1 = (await jsm.streams.info('ORDERS_P1')).config;
    // vp mod P: the even vps in ORDERS_P0, the odd ones in ORDERS_P1.
    expect(p0.subjects).toHaveLength(128);
    expect(p0.subjects).toContain('orders.0.>');
    expect(p0.subjects).toContain('orders.254.>');
    expect(p1.subjects).toContain('orders.255.>');
    expect(p1.subjects).not.toContain('orders.0.>');
    expect(p0).toMatchObject({
      storage: 'file',
      retention: 'limits',
      max_age: 7 * 24 * 3600 * 1000 * NS,
      duplicate_window: 2 * 3600 * 1000 * NS,
      // Full by size: new orders are refused, undelivered ones are never dropped.
      discard: 'new',
      // JETSTREAM_ORDERS_MAX_BYTES is for all partitions together.
      max_bytes: 2 * 1024 ** 3,
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
    expect((await jsm.streams.info(STREAMS.DLQ)).config).toMatchObject({
      subjects: ['dlq.>'],
      max_msgs_per_subject: 1,
      max_age: 30 * 24 * 3600 * 1000 * NS,
      discard: 'old',
      max_bytes: 1024 ** 3,
    });
    expect((await jsm.streams.info(STREAMS.AUDIT)).config).toMatchObject({
      deny_delete: true,
      deny_purge: true,
      max_age: 365 * 24 * 3600 * 1000 * NS,
    });
    const enrollments = (await jsm.streams.info(kvStreamName(KV_BUCKETS.ENROLLMENTS))).config;
    expect(enrollments).toMatchObject({ storage: 'file', max_age: 15 * 60 * 1000 * NS, max_msgs_per_subject: 1 });
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.SIGNING_KEYS))).config.max_msgs_per_subject).toBe(5);
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.LEASES))).config.max_age).toBe(30_000 * NS);
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.REFRESH_TOKENS))).config).toMatchObject({
      max_age: 30 * 24 * 3600 * 1000 * NS,
      max_bytes: 512 * 1024 ** 2,
    });
    // Every stream and bucket has a size limit.
    for await (const si of jsm.streams.list()) expect(si.config.max_bytes, si.config.name).toBeGreaterThan(0);

    const second = await ensureTopology(nc, { logger });
    expect(second.items.map((i) => i.action)).toEqual(Array(DECLARED).fill('unchanged'));
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
    expect(summary.items.find((i) => i.name === 'ORDERS_P0')?.changed).toEqual(['max_age']);
    expect(summary.items.find((i) => i.name === 'ORDERS_P1')?.changed).toEqual(['max_age']);
    expect(summary.buckets.ow_enrollments).toBe('updated');
    expect(summary.streams.RECEIPTS).toBe('unchanged');
    expect((await jsm.streams.info('ORDERS_P1')).config.max_age).toBe(3 * 24 * 3600 * 1000 * NS);
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
    const subject = stationSubject('t1', 's1', 'grill');
    const sub = nc.subscribe(`ow.ring.orders.${orderPartition('t1', 's1')}.t1.s1.>`, { max: 1 });
    const js = jetstream(nc);
    const ack = await js.publish(subject, new TextEncoder().encode('{"big":"payload"}'));
    expect(ack.stream).toBe(await orderStreamFor(jsm, 't1', 's1'));
    for await (const m of sub) {
      expect(m.subject).toBe(`ow.ring.${subject}`);
      expect(m.data).toHaveLength(0); // headers only
      expect(m.headers?.get('Nats-Sequence')).toBe(String(ack.seq));
      expect(m.headers?.get('Nats-Subject')).toBe(subject);
    }
    // Declared nested settings compare by value: a second run changes nothing.
    const again = await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    expect(again.items.map((i) => [i.name, i.action])).toEqual([
      ['ORDERS_P0', 'unchanged'],
      ['ORDERS_P1', 'unchanged'],
    ]);
  });

  it('leaves an order stream created without a consumer limit as it is (the server cannot add one)', async () => {
    await jsm.streams.add({ name: 'ORDERS_P0', subjects: Array.from({ length: 128 }, (_, i) => `orders.${2 * i}.>`), storage: 'file' });
    const result = await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
    expect(result.items[0]).toMatchObject({ name: 'ORDERS_P0', action: 'updated' });
    expect(result.items[0]?.changed).not.toContain('max_consumers');
    expect(result.items[1]).toMatchObject({ name: 'ORDERS_P1', action: 'created' });
    expect((await jsm.streams.info('ORDERS_P0')).config.max_consumers).toBe(-1);
  });

  it('refuses to touch an order stream created with memory storage, naming the stream and field, and changes nothing', async () => {
    await jsm.streams.add({ name: 'ORDERS_P0', subjects: Array.from({ length: 128 }, (_, i) => `orders.${2 * i}.>`), storage: 'memory' });
    const err = await expectConflict(ensureTopology(nc, { logger }));
    expect(err.message).toContain('ORDERS_P0');
    expect(err.message).toContain('storage');
    expect(err.details).toEqual({
      conflicts: [{ kind: 'stream', name: 'ORDERS_P0', field: 'storage', existing: 'memory', declared: 'file' }],
    });
    // Planned first, so nothing else was created.
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names).toEqual(['ORDERS_P0']);
    expect((await jsm.streams.info('ORDERS_P0')).config.storage).toBe('memory');
  });

  it('refuses a legacy ORDERS stream on orders.> with a pointer to the repartition, and changes nothing', async () => {
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'], storage: 'file' });
    const err = await ensureTopology(nc, { logger }).then(
      () => undefined,
      (e: unknown) => e as OrderwireError,
    );
    expect(err?.code).toBe('ORDERWIRE_ERR_TOPOLOGY_LEGACY_ORDERS');
    expect(err?.message).toContain('orderwire-auth topology repartition');
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names).toEqual(['ORDERS']);
    // A service verifying the topology is told the same.
    const mismatch = await verifyTopology(nc, { service: 'ingest', streams: [STREAMS.ORDERS] }).then(
      () => undefined,
      (e: unknown) => e as OrderwireError,
    );
    expect(mismatch?.code).toBe('ORDERWIRE_ERR_TOPOLOGY_MISMATCH');
    expect(mismatch?.message).toContain('repartition');
  });

  it('never moves vps: partition streams of another P are refused, naming the repartition command', async () => {
    await ensureTopology(nc, { orderPartitions: 2, streams: [STREAMS.ORDERS], buckets: [] });
    const err = await ensureTopology(nc, { orderPartitions: 4, logger }).then(
      () => undefined,
      (e: unknown) => e as OrderwireError,
    );
    expect(err?.code).toBe('ORDERWIRE_ERR_TOPOLOGY_PARTITIONS');
    expect(err?.message).toContain('topology repartition --partitions 4');
    const a = await readOrderStreamAssignment(jsm);
    expect([...a.streams.keys()]).toEqual(['ORDERS_P0', 'ORDERS_P1']);
    expect(a.owner.every((o) => o !== undefined)).toBe(true);
    // P must be a power of two up to 256.
    expect(() => loadTopologyConfig({ JETSTREAM_ORDER_PARTITIONS: '3' })).toThrow(ConfigError);
    expect(loadTopologyConfig({ JETSTREAM_ORDER_PARTITIONS: '16' }).orderPartitions).toBe(16);
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
    const a = await js.publish(stationSubject('t1', 's1', 'grill'), 'x', { msgID: 'order-1' });
    const b = await js.publish(stationSubject('t1', 's1', 'grill'), 'x', { msgID: 'order-1' });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
  });

  it('is safe when several appliers run at the same time (topology Jobs racing): none fails, the result is the declaration', async () => {
    const config = loadTopologyConfig({ JETSTREAM_ORDERS_MAX_AGE: '3d', JETSTREAM_KV_REFRESH_TOKENS_TTL: '60d' });
    const conns = await Promise.all([1, 2, 3].map((i) => connectNats({ servers: server.url, name: `svc-${i}`, logger })));
    try {
      const results = await Promise.all(conns.map((c) => ensureTopology(c, config)));
      for (const name of Object.values(STREAMS)) {
        const actions = results.map((r) => r.streams[name]);
        // The server accepts an identical create as a no-op, so a racer may also report 'created'.
        expect(actions.every((a) => a === 'created' || a === 'unchanged')).toBe(true);
      }
      for (const bucket of Object.values(KV_BUCKETS)) {
        expect(results.every((r) => r.buckets[bucket] === 'created' || r.buckets[bucket] === 'unchanged')).toBe(true);
      }
      expect(await streamNames()).toHaveLength(DECLARED); // the order partitions + the other streams + the KV buckets' streams
      expect((await jsm.streams.info('ORDERS_P1')).config.max_age).toBe(3 * 24 * 3600 * 1000 * NS);
      expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.REFRESH_TOKENS))).config.max_age).toBe(60 * 24 * 3600 * 1000 * NS);
      // Idempotent: applying the same configuration again changes nothing.
      expect((await ensureTopology(nc, config)).items.every((i) => i.action === 'unchanged')).toBe(true);
    } finally {
      await Promise.all(conns.map((c) => closeNats(c, logger)));
    }
  });
});

async function expectMismatch(p: Promise<unknown>): Promise<OrderwireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OrderwireError);
  expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_TOPOLOGY_MISMATCH');
  return err as OrderwireError;
}

async function streamNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  return names.sort();
}

describe('verifyTopology (what a service does at start)', () => {
  it('passes when the applied topology has what the service needs, and changes nothing', async () => {
    await ensureTopology(nc, loadTopologyConfig({}));
    const before = (await jsm.streams.info(kvStreamName(KV_BUCKETS.ENROLLMENTS))).config;
    await verifyTopology(nc, {
      service: 'svc',
      streams: [{ name: STREAMS.ORDERS, republish: true }, { name: STREAMS.RECEIPTS, allowDirect: true }, STREAMS.ADVISORIES],
      buckets: [KV_BUCKETS.DISPLAYS, { bucket: KV_BUCKETS.ENROLLMENTS, minTtl: { ms: 15 * 60_000, env: 'AUTH_ENROLLMENT_TTL' } }],
    });
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.ENROLLMENTS))).config).toEqual(before);
  });

  it('a missing stream or bucket is named, and nothing is created', async () => {
    const err = await expectMismatch(verifyTopology(nc, { service: 'ingest', streams: [STREAMS.ORDERS], buckets: [KV_BUCKETS.DISPLAYS] }));
    expect(err.message).toContain('ingest');
    expect(err.message).toContain('stream ORDERS exists: missing');
    expect(err.message).toContain('kv ow_displays exists: missing');
    expect(err.message).toContain('topology apply');
    expect(await streamNames()).toEqual([]);
  });

  it('an order stream with the wrong retention or no doorbell republish is named field by field, and left as it is', async () => {
    await jsm.streams.add({ name: 'ORDERS_P0', subjects: ['orders.0.>'], storage: 'file', retention: 'workqueue' });
    const err = await expectMismatch(verifyTopology(nc, { service: 'edge', streams: [{ name: STREAMS.ORDERS, republish: true }] }));
    const fields = (err.details as { mismatches: { name: string; field: string }[] }).mismatches.map((m) => `${m.name}.${m.field}`);
    expect(fields).toEqual(['ORDERS_P0.retention', 'ORDERS_P0.republish']);
    const after = (await jsm.streams.info('ORDERS_P0')).config;
    expect(after).toMatchObject({ subjects: ['orders.0.>'], retention: 'workqueue' });
    expect(after.republish).toBeUndefined();
  });

  it('wider subjects and settings the service does not depend on (replicas, max age, max bytes) are not its business', async () => {
    await ensureTopology(nc, loadTopologyConfig({ JETSTREAM_ORDERS_MAX_AGE: '1h', JETSTREAM_ORDERS_DUPLICATE_WINDOW: '1m', JETSTREAM_ORDERS_MAX_BYTES: '1MiB' }));
    const cur = (await jsm.streams.info(STREAMS.RECEIPTS)).config;
    await jsm.streams.update(STREAMS.RECEIPTS, { ...cur, subjects: ['receipts.>', 'extra.>'] });
    await verifyTopology(nc, { service: 'svc', streams: [STREAMS.ORDERS, STREAMS.RECEIPTS] });
    // Narrower subjects that still cover what the service uses pass too.
    await verifyTopology(nc, { service: 'svc', streams: [{ name: STREAMS.RECEIPTS, subjects: ['receipts.t1.*'] }] });
  });

  it('a bucket TTL shorter than a lifetime the service keeps records for is named with the setting', async () => {
    await ensureTopology(nc, loadTopologyConfig({ JETSTREAM_KV_REFRESH_TOKENS_TTL: '30d' }));
    const need = { ms: 60 * 24 * 3600 * 1000, env: 'AUTH_REFRESH_TTL' };
    const err = await expectMismatch(verifyTopology(nc, { service: 'auth', buckets: [{ bucket: KV_BUCKETS.REFRESH_TOKENS, minTtl: need }] }));
    expect(err.message).toContain('kv ow_refresh_tokens max_age: is 2592000000 ms, needs 0 or >= 5184000000 ms (AUTH_REFRESH_TTL)');
    expect((await jsm.streams.info(kvStreamName(KV_BUCKETS.REFRESH_TOKENS))).config.max_age).toBe(30 * 24 * 3600 * 1000 * NS);
    // 0 = entries never expire: enough for any lifetime.
    await ensureTopology(nc, loadTopologyConfig({ JETSTREAM_KV_REFRESH_TOKENS_TTL: '0' }));
    await verifyTopology(nc, { service: 'auth', buckets: [{ bucket: KV_BUCKETS.REFRESH_TOKENS, minTtl: need }] });
  });
});

describe('loadTopologyConfig', () => {
  it('defaults to TOPOLOGY_DEFAULTS', () => {
    const { streamMaxBytes, kvMaxBytes, ...rest } = loadTopologyConfig({});
    const { streamMaxBytes: dStreams, kvMaxBytes: dKv, ordersMaxMsgSize, ...defaults } = TOPOLOGY_DEFAULTS;
    expect(rest).toEqual({ ...defaults, ordersMaxMsgSize });
    expect(streamMaxBytes).toEqual(dStreams);
    expect(kvMaxBytes).toEqual(dKv);
  });

  it('reads sizes, durations and replicas; bucket TTLs follow the lifetimes auth keeps', () => {
    const c = loadTopologyConfig(
      { JETSTREAM_REPLICAS: '3', JETSTREAM_ORDERS_MAX_BYTES: '20GiB', JETSTREAM_KV_DISPLAYS_MAX_BYTES: '1024', JETSTREAM_DLQ_MAX_AGE: '0' },
      {
        enrollmentTtlMs: { ms: 45 * 60_000, env: 'AUTH_ENROLLMENT_TTL' },
        refreshTokenTtlMs: { ms: 60 * 24 * 3600_000, env: 'AUTH_REFRESH_TTL' },
        leaseTtlMs: { ms: 1_000, env: 'AUTH_LEASE_TTL' },
      },
    );
    expect(c).toMatchObject({ replicas: 3, dlqMaxAgeMs: 0, enrollmentTtlMs: 90 * 60_000, refreshTokenTtlMs: 60 * 24 * 3600_000, leaseTtlMs: 30_000 });
    expect(c.streamMaxBytes.ORDERS).toBe(20 * 1024 ** 3);
    expect(c.kvMaxBytes.ow_displays).toBe(1024);
  });

  it('names every bad variable, including a TTL shorter than the lifetime it must cover', () => {
    let err: unknown;
    try {
      loadTopologyConfig(
        {
          JETSTREAM_REPLICAS: '0',
          JETSTREAM_AUDIT_MAX_BYTES: '2 gigs',
          JETSTREAM_ORDERS_MAX_AGE: '1h',
          JETSTREAM_ORDERS_DUPLICATE_WINDOW: '2h',
          JETSTREAM_KV_REFRESH_TOKENS_TTL: '30d',
        },
        { refreshTokenTtlMs: { ms: 60 * 24 * 3600_000, env: 'AUTH_REFRESH_TTL' } },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.env)).toEqual(['JETSTREAM_REPLICAS', 'JETSTREAM_AUDIT_MAX_BYTES']);
    // Cross-field rules run once the variables parse.
    expect(() =>
      loadTopologyConfig(
        { JETSTREAM_ORDERS_MAX_AGE: '1h', JETSTREAM_ORDERS_DUPLICATE_WINDOW: '2h', JETSTREAM_KV_REFRESH_TOKENS_TTL: '30d' },
        { refreshTokenTtlMs: { ms: 60 * 24 * 3600_000, env: 'AUTH_REFRESH_TTL' } },
      ),
    ).toThrow(/JETSTREAM_KV_REFRESH_TOKENS_TTL: must be 0 \(forever\) or >= AUTH_REFRESH_TTL[\s\S]*JETSTREAM_ORDERS_DUPLICATE_WINDOW|JETSTREAM_ORDERS_DUPLICATE_WINDOW[\s\S]*JETSTREAM_KV_REFRESH_TOKENS_TTL: must be 0 \(forever\) or >= AUTH_REFRESH_TTL/);
  });

  it('refuses RECEIPTS that do not outlive ORDERS: order status and expiry detection read them after the order is gone', () => {
    expect(() => loadTopologyConfig({ JETSTREAM_ORDERS_MAX_AGE: '7d', JETSTREAM_RECEIPTS_MAX_AGE: '7d' })).toThrow(
      /JETSTREAM_RECEIPTS_MAX_AGE: must be 0 \(forever\) or longer than JETSTREAM_ORDERS_MAX_AGE/,
    );
    expect(() => loadTopologyConfig({ JETSTREAM_ORDERS_MAX_AGE: '0', JETSTREAM_RECEIPTS_MAX_AGE: '30d' })).toThrow(/JETSTREAM_RECEIPTS_MAX_AGE/);
    expect(loadTopologyConfig({ JETSTREAM_ORDERS_MAX_AGE: '7d', JETSTREAM_RECEIPTS_MAX_AGE: '0' }).receiptsMaxAgeMs).toBe(0);
    const c = loadTopologyConfig({});
    expect(c.receiptsMaxAgeMs).toBeGreaterThan(c.ordersMaxAgeMs);
    // The notices of orders that expired unseen live as long as a display can stay enrolled offline.
    const notices = kvDeclarations(c).find((k) => k.bucket === 'ow_expired_notices');
    expect(notices).toMatchObject({ ttlMs: c.refreshTokenTtlMs, history: 1 });
  });

  it('parses and formats sizes', () => {
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize(' 7 ')).toBe(7);
    expect(parseSize('1.5GiB')).toBeUndefined();
    expect(parseSize('1GB')).toBeUndefined();
    expect(formatSize(4 * 1024 ** 3)).toBe('4GiB');
    expect(formatSize(1536)).toBe('1536B');
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
      durable_name: 'mailbox_2_t1_kds-1',
      filter_subjects: [stationSubject('t1', 's1', 'grill'), stationSubject('t1', 's1', 'fry'), displaySubject('t1', 's1', 'kds-1')],
      metadata: { 'orderwire.tenant': 't1', 'orderwire.display': 'kds-1', 'orderwire.store': 's1' },
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
    expect(created.info.config.durable_name).toBe('mailbox_2_t1_kds-1');
    expect(created.info.config.inactive_threshold ?? 0).toBe(0);

    expect((await ensureDisplayConsumer(jsm, display)).action).toBe('unchanged');

    const updated = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill', 'expo'] });
    expect(updated.action).toBe('updated');
    expect(updated.changed).toEqual(['filter_subjects']);
    expect(updated.info.config.filter_subjects?.sort()).toEqual(
      [stationSubject('t1', 's1', 'expo'), stationSubject('t1', 's1', 'grill'), displaySubject('t1', 's1', 'kds-1')].sort(),
    );

    // The mailbox receives station and targeted messages only.
    const js = jsm.jetstream();
    await js.publish(stationSubject('t1', 's1', 'expo'), 'a');
    await js.publish(stationSubject('t1', 's1', 'fry'), 'not for me');
    await js.publish(displaySubject('t1', 's1', 'kds-1'), 'b');
    await js.publish(displaySubject('t1', 's1', 'kds-2'), 'not for me');
    const consumer = await js.consumers.get(await ordersOf('t1', 's1'), 'mailbox_2_t1_kds-1');
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
    await expect(jsm.consumers.info(await ordersOf('t1', 's1'), 'mailbox_2_t1_kds-1')).rejects.toThrow(/consumer not found/);
    // Deleting again is not an error.
    expect(await deleteDisplayConsumer(jsm, 't1', 'kds-1')).toBe(false);
  });

  it('refuses to change an immutable consumer field', async () => {
    await jsm.consumers.add(await ordersOf('t1', 's1'), {
      durable_name: 'mailbox_2_t1_kds-1',
      ack_policy: 'explicit',
      deliver_policy: 'all',
      filter_subjects: [stationSubject('t1', 's1', 'grill')],
      metadata: displayConsumerMetadata({ tenant: 't1', store: 's1', displayId: 'kds-1' }),
    });
    const err = await expectConflict(ensureDisplayConsumer(jsm, display));
    expect(err.message).toContain('mailbox_2_t1_kds-1');
    expect(err.message).toContain('deliver_policy');
  });

  it('expectNew creates with one consumer API request, and a taken name gets the checks and updates of an existing one', async () => {
    const requests: string[] = [];
    // `INFO`, `CREATE`, or `DURABLE.CREATE` (the create subject of a consumer with several filters).
    const kind = (subject: string): string => {
      const t = subject.split('.');
      return t[3] === 'DURABLE' ? `DURABLE.${t[4]}` : t[3]!;
    };
    const spy = nc.subscribe('$JS.API.CONSUMER.>', {
      callback: (_e, m) => {
        requests.push(kind(m.subject));
      },
    });
    await nc.flush();
    const seen = async (): Promise<string[]> => {
      await nc.flush();
      await new Promise((r) => setTimeout(r, 50));
      return requests.splice(0);
    };

    const created = await ensureDisplayConsumer(jsm, display, { expectNew: true });
    expect(created.action).toBe('created');
    expect(created.info.config).toMatchObject(displayConsumerConfig(display));
    expect(await seen()).toEqual(['DURABLE.CREATE']);
    // Without the hint: an info first.
    expect((await ensureDisplayConsumer(jsm, display)).action).toBe('unchanged');
    expect(await seen()).toEqual(['INFO']);

    // The same config under the name is this display's mailbox already: accepted as it is.
    expect((await ensureDisplayConsumer(jsm, display, { expectNew: true })).action).toBe('created');
    expect(await seen()).toEqual(['DURABLE.CREATE']);
    // Another config: refused by the create, then updated like any existing mailbox.
    const moved = await ensureDisplayConsumer(jsm, { ...display, stations: ['grill'] }, { expectNew: true });
    expect(moved).toMatchObject({ action: 'updated', changed: ['filter_subjects'] });
    expect((await seen()).slice(0, 2)).toEqual(['DURABLE.CREATE', 'INFO']);

    // Someone else's consumer under the name: refused and left as it is, as without the hint.
    await jsm.consumers.delete(created.stream, created.info.name);
    await jsm.consumers.add(created.stream, { ...displayConsumerConfig(display), metadata: displayConsumerMetadata({ tenant: 'other', store: 's1', displayId: 'x' }) });
    const before = JSON.stringify((await jsm.consumers.info(created.stream, created.info.name)).config);
    const err = await ensureDisplayConsumer(jsm, display, { expectNew: true }).then(
      () => expect.unreachable('accepted a consumer owned by someone else'),
      (e: unknown) => e,
    );
    expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER');
    expect(JSON.stringify((await jsm.consumers.info(created.stream, created.info.name)).config)).toBe(before);
    spy.unsubscribe();
  });
});

/**
 * Issue 12, item 1: tenant `acme` registering display `x_1` used to rewrite the mailbox of tenant
 * `acme_x` display `1` (same consumer name) and decommissioning it deleted the victim's mailbox.
 */
describe('display mailboxes of different tenants never collide', () => {
  const SEPARATORS = ['_', '-'] as const;

  beforeEach(async () => {
    await ensureTopology(nc, { streams: [STREAMS.ORDERS], buckets: [] });
  });

  /** Every way to cut `chars` at one separator into (victim tenant, victim display) and the attacker's other cut. */
  function collisionCases(): { victim: [string, string]; attacker: [string, string] }[] {
    const out: { victim: [string, string]; attacker: [string, string] }[] = [];
    for (const sep of SEPARATORS) {
      // Separators at every position of a 3-part id: a<sep>b<sep>c, also doubled and at the edges.
      for (const s of [`ab${sep}x${sep}1`, `a${sep}${sep}b${sep}c`, `${sep}a${sep}b`, `a${sep}b${sep}`, `${sep}${sep}${sep}`]) {
        const cuts: number[] = [];
        for (let i = 0; i < s.length; i++) if (s[i] === sep) cuts.push(i);
        const pairs = cuts
          .map((i) => [s.slice(0, i), s.slice(i + 1)] as [string, string])
          .filter(([t, d]) => /^[A-Za-z0-9_-]{1,64}$/.test(t) && /^[A-Za-z0-9_-]{1,64}$/.test(d));
        for (const victim of pairs) for (const attacker of pairs) if (victim !== attacker) out.push({ victim, attacker });
      }
    }
    return out;
  }

  it('registration and decommission of the attacker leave the victim consumer byte-for-byte unchanged', async () => {
    const cases = collisionCases();
    expect(cases.length).toBeGreaterThan(10);
    for (const { victim, attacker } of cases) {
      const [vt, vd] = victim;
      const [at, ad] = attacker;
      const v = { tenant: vt, store: 'victim-store', displayId: vd, stations: ['grill'] };
      await ensureDisplayConsumer(jsm, v);
      const before = (await jsm.consumers.info(await ordersOf(vt, 'victim-store'), displayConsumerName(vt, vd))).config;

      const a = await ensureDisplayConsumer(jsm, { tenant: at, store: 'attacker-store', displayId: ad, stations: ['fry'] });
      expect(a.action).toBe('created');
      expect(a.info.config.durable_name).not.toBe(before.durable_name);
      expect(await deleteDisplayConsumer(jsm, at, ad)).toBe(true);

      const after = (await jsm.consumers.info(await ordersOf(vt, 'victim-store'), displayConsumerName(vt, vd))).config;
      expect(JSON.stringify(after), `victim ${vt}/${vd} vs attacker ${at}/${ad}`).toBe(JSON.stringify(before));
      await jsm.consumers.delete(await ordersOf(vt, 'victim-store'), displayConsumerName(vt, vd));
    }
  });

  it('an existing consumer under the name that is not the display’s own is refused, not updated or deleted', async () => {
    const name = displayConsumerName('acme', 'x_1');
    // Planted by someone else (no owner metadata), then one recording another owner.
    for (const metadata of [undefined, displayConsumerMetadata({ tenant: 'acme_x', store: 's', displayId: '1' })]) {
      await jsm.consumers.add(await ordersOf('acme', 'evil'), {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subjects: [displaySubject('acme_x', 's', '1')],
        ...(metadata === undefined ? {} : { metadata }),
      });
      const before = JSON.stringify((await jsm.consumers.info(await ordersOf('acme', 'evil'), name)).config);
      for (const attempt of [
        ensureDisplayConsumer(jsm, { tenant: 'acme', store: 'evil', displayId: 'x_1', stations: ['grill'] }),
        deleteDisplayConsumer(jsm, 'acme', 'x_1'),
      ]) {
        const err = await attempt.then(
          () => expect.unreachable('accepted a consumer owned by someone else'),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(OrderwireError);
        expect((err as OrderwireError).code).toBe('ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER');
        expect((err as OrderwireError).message).toContain(name);
      }
      expect(JSON.stringify((await jsm.consumers.info(await ordersOf('acme', 'evil'), name)).config)).toBe(before);
      await jsm.consumers.delete(await ordersOf('acme', 'evil'), name);
    }
  });

  it('a display moved to another store of the same partition stream updates its recorded store', async () => {
    // s1 and the first other store on the same stream.
    const home = await ordersOf('t1', 's1');
    let other = 's2';
    for (let i = 2; (await ordersOf('t1', other)) !== home; i++) other = `s${i}`;
    await ensureDisplayConsumer(jsm, { tenant: 't1', store: 's1', displayId: 'd1', stations: ['grill'] });
    const moved = await ensureDisplayConsumer(jsm, { tenant: 't1', store: other, displayId: 'd1', stations: ['grill'] });
    expect(moved.action).toBe('updated');
    expect(moved.stream).toBe(home);
    expect(moved.changed).toEqual(['filter_subjects', 'metadata']);
    expect(moved.info.config.metadata).toMatchObject({ 'orderwire.store': other, 'orderwire.tenant': 't1', 'orderwire.display': 'd1' });
  });

  it('a display on another partition stream gets its mailbox there; deleting without a stream removes it everywhere', async () => {
    const home = await ordersOf('t1', 's1');
    let other = 's2';
    for (let i = 2; (await ordersOf('t1', other)) === home; i++) other = `s${i}`;
    const a = await ensureDisplayConsumer(jsm, { tenant: 't1', store: 's1', displayId: 'd1', stations: ['grill'] });
    const b = await ensureDisplayConsumer(jsm, { tenant: 't1', store: other, displayId: 'd1', stations: ['grill'] });
    expect([a.stream, b.stream, b.action]).toEqual([home, await ordersOf('t1', other), 'created']);
    expect(await deleteDisplayConsumer(jsm, 't1', 'd1')).toBe(true);
    for (const st of [a.stream, b.stream]) await expect(jsm.consumers.info(st, displayConsumerName('t1', 'd1'))).rejects.toThrow(/consumer not found/);
  });
});
