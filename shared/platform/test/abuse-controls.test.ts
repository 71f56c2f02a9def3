/**
 * The shared abuse controls: the audit aggregator (bounded memory, one event per key per window),
 * the rate limiter (quota `take` in Redis, per-process fail-open), the failure gate, and the
 * revoked-clients watch (a process started after a revocation knows it before it serves).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNats, startRedis, waitFor, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_OVERFLOW_SOURCE, createAuditAggregator, type AggregatedAuditEvent } from '../src/audit-aggregator.js';
import { createMetrics } from '../src/metrics.js';
import { closeNats, connectNats } from '../src/nats.js';
import { addressKey, createFailureGate, createLocalWindows, createRateLimiter } from '../src/rate-limit.js';
import { createRevocationWatcher } from '../src/revocations.js';
import { ensureTopology, KV_BUCKETS, STREAMS } from '../src/topology.js';

const logger = pino({ level: 'silent' });
let nats: NatsServerHandle;
let redisServer: RedisServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  [nats, redisServer] = await Promise.all([startNats(), startRedis()]);
  nc = await connectNats({ servers: nats.url, name: 'abuse-test', logger });
  await ensureTopology(nc, { streams: [STREAMS.AUDIT], buckets: [KV_BUCKETS.REVOKED_CLIENTS] });
});

afterAll(async () => {
  if (nc !== undefined) await closeNats(nc, logger);
  await Promise.all([nats?.dispose(), redisServer?.dispose()]);
});

async function auditEvents(subject: string): Promise<AggregatedAuditEvent[]> {
  const consumer = await jetstream(nc).consumers.get(STREAMS.AUDIT, { filter_subjects: [subject] });
  const pending = (await consumer.info()).num_pending;
  const out: AggregatedAuditEvent[] = [];
  if (pending === 0) return out;
  for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
    out.push(m.json<AggregatedAuditEvent>());
    if (out.length >= pending) break;
  }
  return out;
}

describe('audit aggregator', () => {
  it('turns 10,000 occurrences from 5,000 sources into at most maxKeys + 1 events, the rest in one overflow bucket', async () => {
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const agg = createAuditAggregator({ js: jetstream(nc), service: 'test', instance: 'i1', logger, metrics, maxKeys: 100, maxSamples: 3 });
    for (let i = 0; i < 10_000; i++) {
      agg.note({ event: 'flood_test', source: `10.0.${Math.floor(i / 2) % 5000 >> 8}.${(Math.floor(i / 2) % 5000) & 255}-${Math.floor(i / 2)}`, reason: i % 2 === 0 ? 'a' : 'b', sample: `s${i % 7}` });
      expect(agg.keys).toBeLessThanOrEqual(101);
    }
    await agg.flush();
    expect(agg.keys).toBe(0);
    const events = await auditEvents('audit._system.flood_test');
    expect(events).toHaveLength(101);
    expect(events.reduce((n, e) => n + e.count, 0)).toBe(10_000);
    const overflow = events.find((e) => e.source === AUDIT_OVERFLOW_SOURCE)!;
    expect(overflow.count).toBe(10_000 - 200);
    expect(overflow.samples).toHaveLength(3);
    // Occurrences whose sample was not kept (4 of every 7 sample values).
    expect(overflow.samplesDropped).toBe(5_600);
    expect(events.find((e) => e.source !== AUDIT_OVERFLOW_SOURCE)).toMatchObject({ count: 2, reasons: { a: 1, b: 1 }, service: 'test', instance: 'i1' });
    expect(await metrics.text()).toMatch(/orderwire_audit_overflow_total\{[^}]*\} 9800/);
  });

  it('keeps tenants, actors and events apart, writes nothing for an empty window, and flushes on stop', async () => {
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const agg = createAuditAggregator({ js: jetstream(nc), service: 'test', instance: 'i2', logger, metrics, windowMs: 60_000 });
    agg.start();
    await agg.flush(); // empty: nothing written
    agg.note({ event: 'keys_test', tenant: 'acme', source: '1.2.3.4', actor: { type: 'client', id: 'c1' }, reason: 'list' });
    agg.note({ event: 'keys_test', tenant: 'acme', source: '1.2.3.4', actor: { type: 'client', id: 'c2' }, reason: 'list' });
    agg.note({ event: 'keys_test', tenant: 'not a valid id!', source: '1.2.3.4', reason: 'x' });
    await agg.stop();
    expect(await auditEvents('audit.acme.keys_test')).toHaveLength(2);
    expect(await auditEvents('audit._system.keys_test')).toHaveLength(1);
  });

  it('logs a failed write with the whole event and counts it, never throws', async () => {
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const lines: string[] = [];
    const capture = pino({ level: 'error' }, { write: (l: string) => lines.push(l) });
    const agg = createAuditAggregator({ js: jetstream(nc), service: 'test', instance: 'i3', logger: capture, metrics, publishTimeoutMs: 200 });
    // A connection closed before the flush: the publish fails.
    const other = await connectNats({ servers: nats.url, name: 'abuse-test', logger });
    const broken = createAuditAggregator({ js: jetstream(other), service: 'test', instance: 'i3', logger: capture, metrics, publishTimeoutMs: 200 });
    await closeNats(other, logger);
    broken.note({ event: 'fail_test', source: '9.9.9.9', reason: 'r' });
    await broken.flush();
    expect(lines.some((l) => l.includes('aggregated audit write failed') && l.includes('9.9.9.9'))).toBe(true);
    expect(await metrics.text()).toMatch(/orderwire_audit_aggregated_events_total\{[^}]*result="failed"[^}]*\} 1/);
    await agg.stop();
  });
});

describe('rate limiter', () => {
  it('local windows: take admits only what fits and counts nothing when refusing', () => {
    const w = createLocalWindows(10);
    expect(w.take('t', 3, 5, 1_000, 0)).toEqual({ allowed: true, used: 3, ttl: 1_000 });
    expect(w.take('t', 3, 5, 1_000, 10)).toEqual({ allowed: false, used: 3, ttl: 990 });
    expect(w.take('t', 2, 5, 1_000, 20)).toMatchObject({ allowed: true, used: 5 });
    expect(w.take('t', 1, 5, 1_000, 1_000)).toMatchObject({ allowed: true, used: 1 }); // new window
  });

  it('local windows stay within capacity', () => {
    const w = createLocalWindows(50);
    for (let i = 0; i < 10_000; i++) w.hit(`k${i}`, 60_000);
    expect(w.size).toBeLessThanOrEqual(50);
  });

  it('quota in Redis is shared by two limiters (two replicas); Redis down fails open to per-process counting', async () => {
    const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    redis.on('error', () => undefined);
    await new Promise<void>((r) => redis.once('ready', () => r()));
    const changes: boolean[] = [];
    const a = createRateLimiter({ redis, keyPrefix: 'test:', logger, onDegradedChange: (d) => changes.push(d) });
    const b = createRateLimiter({ redis, keyPrefix: 'test:', logger });
    expect((await a.take('q', 4, 6, 60_000)).allowed).toBe(true);
    expect(await b.take('q', 3, 6, 60_000)).toMatchObject({ allowed: false, used: 4 });
    expect(await b.take('q', 2, 6, 60_000)).toMatchObject({ allowed: true, used: 6 });
    expect(a.degraded()).toBe(false);

    await redisServer.kill();
    await waitFor(() => redis.status !== 'ready', { timeoutMs: 5_000 });
    // Fails open: the local window starts empty, so intake continues (up to the quota per process).
    expect(await a.take('q', 6, 6, 60_000)).toMatchObject({ allowed: true, used: 6 });
    expect(await a.take('q', 1, 6, 60_000)).toMatchObject({ allowed: false });
    expect(a.degraded()).toBe(true);
    expect(changes).toEqual([false, true]);
    redis.disconnect();
    await redisServer.start();
  });

  it('sends each counting script once per connection, then only its SHA — also after Redis forgot it (SCRIPT FLUSH)', async () => {
    const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await new Promise<void>((r) => redis.once('ready', () => r()));
    const calls = async (): Promise<{ eval: number; evalsha: number }> => {
      const info = await redis.info('commandstats');
      const n = (cmd: string): number => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      return { eval: n('eval'), evalsha: n('evalsha') };
    };
    await redis.config('RESETSTAT');
    const limiter = createRateLimiter({ redis, keyPrefix: 'sha:', logger });
    for (let i = 1; i <= 20; i++) expect(await limiter.hit('k', 60_000)).toMatchObject({ current: i });
    for (let i = 0; i < 5; i++) expect((await limiter.take('q', 1, 10, 60_000)).allowed).toBe(true);
    const before = await calls();
    // The script text went over the wire at most once per script; every other count was an EVALSHA.
    expect(before.eval).toBeLessThanOrEqual(2);
    expect(before.evalsha).toBeGreaterThanOrEqual(23);
    await redis.script('FLUSH');
    expect(await limiter.hit('k', 60_000)).toMatchObject({ current: 21 });
    expect(await limiter.take('q', 6, 10, 60_000)).toMatchObject({ allowed: false, used: 5 });
    expect(limiter.degraded()).toBe(false);
    redis.disconnect();
  });

  it('hitAndTake: the same counts and decisions as hit then take, in one script call; over the hit limit nothing is taken', async () => {
    const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    redis.on('error', () => undefined);
    await new Promise<void>((r) => redis.once('ready', () => r()));
    const calls = async (): Promise<number> => {
      const info = await redis.info('commandstats');
      const n = (cmd: string): number => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      return n('eval') + n('evalsha');
    };
    const combined = createRateLimiter({ redis, keyPrefix: 'ht:', logger });
    const separate = createRateLimiter({ redis, keyPrefix: 'sep:', logger });
    const hit = { key: 'h', windowMs: 60_000, max: 4 };
    const take = (cost: number) => ({ key: 'q', cost, max: 5, windowMs: 60_000 });
    await redis.config('RESETSTAT');
    const base = await calls();
    const got = [];
    for (const cost of [2, 4, 3, 1, 1, 1]) got.push(await combined.hitAndTake(hit, take(cost)));
    expect((await calls()) - base).toBe(6);
    // The reference: the two counters called in turn, the take skipped when the hit is over its limit.
    const want = [];
    for (const cost of [2, 4, 3, 1, 1, 1]) {
      const h = await separate.hit(hit.key, hit.windowMs);
      want.push(h.current > hit.max ? { hit: h } : { hit: h, take: await separate.take('q', cost, 5, 60_000) });
    }
    const shape = (r: { hit: { current: number }; take?: { allowed: boolean; used: number } }) => ({
      current: r.hit.current,
      take: r.take === undefined ? undefined : { allowed: r.take.allowed, used: r.take.used },
    });
    expect(got.map(shape)).toEqual(want.map(shape));
    expect(got.map(shape)).toEqual([
      { current: 1, take: { allowed: true, used: 2 } },
      { current: 2, take: { allowed: false, used: 2 } },
      { current: 3, take: { allowed: true, used: 5 } },
      { current: 4, take: { allowed: false, used: 5 } },
      { current: 5, take: undefined },
      { current: 6, take: undefined },
    ]);
    for (const r of got) {
      expect(r.hit.ttl).toBeGreaterThan(0);
      expect(r.hit.ttl).toBeLessThanOrEqual(60_000);
      if (r.take !== undefined) expect(r.take.ttl).toBeGreaterThan(0);
    }
    expect(await redis.pttl('ht:q')).toBeGreaterThan(0);

    // Redis down: the same decisions per process.
    await redisServer.kill();
    await waitFor(() => redis.status !== 'ready', { timeoutMs: 5_000 });
    const local = [];
    for (const cost of [2, 4, 3, 1, 1, 1]) local.push(shape(await combined.hitAndTake(hit, take(cost))));
    expect(local).toEqual(got.map(shape));
    expect(combined.degraded()).toBe(true);
    redis.disconnect();
    await redisServer.start();
  });

  it('address keys: IPv4 as is, IPv6 by its /64, mapped IPv4 as IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:DB8:0:0:1::')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('failure gate: blocks a key after max failures until the window ends', async () => {
    const gate = createFailureGate({ max: 3, windowMs: 200 });
    for (let i = 0; i < 3; i++) {
      expect(gate.blocked('ip')).toBeUndefined();
      gate.fail('ip');
    }
    expect(gate.blocked('ip')).toBe(1);
    expect(gate.blocked('other')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 250));
    expect(gate.blocked('ip')).toBeUndefined();
  });
});

describe('revoked-clients watch', () => {
  it('a watcher started after a revocation knows it once synced; a later one arrives within a second', async () => {
    const kv = await new Kvm(nc).open(KV_BUCKETS.REVOKED_CLIENTS);
    await kv.put('owc_before', JSON.stringify({ v: 1, clientId: 'owc_before', tenant: 't', revokedAt: new Date().toISOString() }));
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const w = await createRevocationWatcher({ nc, logger, metrics });
    try {
      await w.synced(5_000);
      expect(w.isRevoked({ sub: 'owc_before', tid: 't' })).toBe(true);
      expect(w.isRevoked({ sub: 'owc_other', tid: 't' })).toBe(false);
      const at = Date.now();
      await kv.put('owc_after', JSON.stringify({ v: 1, clientId: 'owc_after', tenant: 't', revokedAt: new Date().toISOString() }));
      await waitFor(() => w.isRevoked({ sub: 'owc_after', tid: 't' }), { timeoutMs: 1_000, intervalMs: 5 });
      expect(Date.now() - at).toBeLessThan(1_000);
      // A malformed entry still revokes the client named by its key.
      await kv.put('owc_garbled', 'not json');
      await waitFor(() => w.isRevoked({ sub: 'owc_garbled', tid: 'x' }), { timeoutMs: 1_000, intervalMs: 5 });
      expect(await metrics.text()).toMatch(/orderwire_revoked_clients\{[^}]*\} 3/);
    } finally {
      await w.stop();
    }
    // The bucket's TTL bounds how long entries are kept: longer than any client token lives.
    const info = await (await jetstreamManager(nc)).streams.info(`KV_${KV_BUCKETS.REVOKED_CLIENTS}`);
    expect(info.config.max_age / 1e6).toBeGreaterThan(24 * 3_600_000);
  });
});
