/**
 * Pure logic: trace context, idempotency keys and hashes, the display index, validation codes,
 * and the rate-limit store's local fallback.
 */
import { Writable } from 'node:stream';
import { createLogger, createMetrics } from '@orderwire/platform';
import { ORDER_ENVELOPE_VERSION, type DisplayRecord, type Order, type OrderEnvelope } from '@orderwire/contracts';
import { describe, expect, it } from 'vitest';
import { createDisplayIndex, parseDisplayRecord } from '../src/display-index.js';
import { canonicalJson, idempotencyKey, orderHash, stationMsgId, targetMsgId } from '../src/idempotency.js';
import { envelopeJson } from '../src/intake.js';
import { createIngestMetrics } from '../src/metrics.js';
import { createRateLimitStore } from '../src/rate-limit-store.js';
import { bindLog } from '../src/request-log.js';
import { parseTraceparent, traceFromRequest } from '../src/trace.js';
import { checkBatchShape, checkOrder, checkOrderIdParam } from '../src/validation.js';
import { order } from './helpers.js';

describe('trace context', () => {
  it('continues a valid traceparent with a new span and keeps its flags', () => {
    const t = traceFromRequest('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00');
    expect(t).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', continued: true });
    expect(t.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
    expect(t.traceparent).not.toContain('00f067aa0ba902b7');
  });
  it('rejects invalid values', () => {
    for (const v of [
      undefined,
      '',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
    ]) {
      expect(parseTraceparent(v), String(v)).toBeUndefined();
      expect(traceFromRequest(v).continued).toBe(false);
    }
  });
  it('new trace and span ids are well formed and never repeat, across refills of the random pool', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    // 1,000 traces use 24 KB of random bytes: several refills of the 4 KiB pool.
    for (let i = 0; i < 1_000; i++) {
      const t = traceFromRequest(undefined);
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(t.traceparent);
      expect(m?.[1]).toBe(t.traceId);
      traces.add(t.traceId);
      spans.add(m![2]!);
    }
    expect([traces.size, spans.size]).toEqual([1_000, 1_000]);
  });
});

describe('idempotency', () => {
  it('defaults the key to the orderId and validates a given key', () => {
    expect(idempotencyKey(undefined, 'o-1')).toBe('o-1');
    expect(idempotencyKey('abc:DEF/123', 'o-1')).toBe('abc:DEF/123');
    for (const bad of ['', 'a b', 'a\u0000', 'é', 'k'.repeat(129)]) {
      expect(() => idempotencyKey(bad, 'o-1')).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY' }));
    }
    expect(() => idempotencyKey(['a', 'b'], 'o-1')).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY' }));
  });
  it('builds message ids that cannot collide between station and targeted publishes', () => {
    expect(stationMsgId('t1', 'o1:d1')).toBe('t1:o1:d1');
    expect(targetMsgId('t1', 'd1', 'o1')).toBe('t1/d1:o1');
    expect(stationMsgId('t1', 'o1:d1')).not.toBe(targetMsgId('t1', 'd1', 'o1'));
  });
  it('hashes orders independently of key order, and differently for different content', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: 2 }], a: 'x' })).toBe('{"a":"x","b":[2,{"c":2,"d":1}]}');
    expect(orderHash({ a: 1, b: 2 })).toBe(orderHash({ b: 2, a: 1 }));
    expect(orderHash({ a: 1 })).not.toBe(orderHash({ a: 2 }));
    expect(orderHash({ a: [1, 2] })).not.toBe(orderHash({ a: [2, 1] }));
  });
});

describe('order envelope', () => {
  it('envelopeJson writes exactly JSON.stringify of the envelope (the bytes stored and size-checked)', () => {
    const o = order({ notes: 'quote " backslash \\ ümlaut 🍔 \u2028', items: [{ name: 'Größe', qty: 1 }] }) as unknown as Order;
    for (const [tenant, acceptedAt, traceId] of [
      ['t1', 1_764_000_000_123, '4bf92f3577b34da6a3ce929d0e0e4736'],
      ['tenant_with-chars', 0, 'x'],
    ] as const) {
      const env: OrderEnvelope = { v: ORDER_ENVELOPE_VERSION, tenant, order: o, acceptedAt, traceId };
      expect(envelopeJson(tenant, JSON.stringify(o), acceptedAt, traceId)).toBe(JSON.stringify(env));
    }
  });
});

describe('request log', () => {
  function capture(level: 'info' | 'warn') {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    return { lines, logger: createLogger({ service: 'ingest', version: 't', level, destination }).child({ requestId: 'r-1' }) };
  }

  it('writes the bound ids on every line, with the line\'s own fields, and writes nothing below the level', () => {
    const { lines, logger } = capture('info');
    const log = bindLog(logger, { tenant: 't1', clientId: 'pos-1', orderId: 'o-1', traceId: 'abc' });
    log.info({ seq: 7 }, 'order accepted');
    log.debug({ seq: 8 }, 'not written');
    log.with({ index: 2, orderId: 'o-2' }).warn({ err: new Error('boom') }, 'batch item failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ requestId: 'r-1', tenant: 't1', clientId: 'pos-1', orderId: 'o-1', traceId: 'abc', seq: 7, msg: 'order accepted' });
    expect(lines[1]).toMatchObject({ requestId: 'r-1', tenant: 't1', orderId: 'o-2', index: 2, level: 'warn', err: { message: 'boom' } });
  });

  it('a secret in a bound field is redacted like in any other line', () => {
    const { lines, logger } = capture('warn');
    bindLog(logger, { tenant: 't1', token: 'secret-token' }).warn({}, 'x');
    expect(lines[0]).toMatchObject({ tenant: 't1', token: '[REDACTED]' });
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });
});

describe('display index', () => {
  const rec = (displayId: string, stations: string[], status: DisplayRecord['status'] = 'enrolled', tenant = 't1'): DisplayRecord => ({
    v: 1,
    tenant,
    displayId,
    storeId: 's1',
    stations,
    consumer: `display_${tenant}_${displayId}`,
    status,
    createdAt: '2024-01-01T00:00:00Z',
  });
  it('indexes active displays by tenant, store and station, following updates and deletes', () => {
    const idx = createDisplayIndex();
    idx.apply('t1.a', rec('a', ['grill', 'fry']));
    idx.apply('t1.b', rec('b', ['grill']));
    idx.apply('t2.a', rec('a', ['grill'], 'enrolled', 't2'));
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual(['a', 'b']);
    expect(idx.stationTargets('t1', 's1', 'fry')).toEqual(['a']);
    expect(idx.stationTargets('t2', 's1', 'grill')).toEqual(['a']);
    idx.apply('t1.a', rec('a', ['fry'])); // stations changed
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual(['b']);
    idx.apply('t1.b', rec('b', ['grill'], 'decommissioned'));
    expect(idx.stationTargets('t1', 's1', 'grill')).toEqual([]);
    idx.apply('t1.a', undefined);
    expect(idx.stationTargets('t1', 's1', 'fry')).toEqual([]);
    expect(idx.size()).toBe(1);
  });
  it('refuses malformed records', () => {
    expect(parseDisplayRecord(rec('a', ['grill']))).toBeDefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), stations: ['a.b'] })).toBeUndefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), tenant: '*' })).toBeUndefined();
    expect(parseDisplayRecord({ ...rec('a', ['grill']), status: 'gone' })).toBeUndefined();
    expect(parseDisplayRecord('x')).toBeUndefined();
  });
});

describe('validation', () => {
  it('names the first unsafe subject-token field', () => {
    const r = checkOrder(order({ storeId: 'ok', station: 'a>b' }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'ORDERWIRE_ERR_INGEST_INVALID_ID', details: { field: 'station' } });
  });
  it('applies the schema defaults and reports schema issues', () => {
    const ok = checkOrder(order());
    expect(ok.ok && ok.value.priority).toBe('normal');
    const bad = checkOrder(order({ items: [{ name: '', qty: 1.5 }] }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_ORDER');
      expect((bad.error.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
    }
    expect(checkOrder(null).ok).toBe(false);
  });
  it('checks the batch wrapper and the orderId path parameter', () => {
    expect(checkBatchShape({ orders: [1] }).ok).toBe(true);
    expect(checkBatchShape({ orders: [] }).ok).toBe(false);
    expect(checkOrderIdParam({ orderId: 'pos/1.2:#3' }).ok).toBe(true);
    expect(checkOrderIdParam({ orderId: 'a b' }).ok).toBe(false);
  });
});

describe('rate-limit store without Redis', () => {
  it('counts per key in windows and reports degraded', async () => {
    const metrics = createIngestMetrics(createMetrics({ service: 'ingest', defaultMetrics: false }));
    const { Store, degraded } = createRateLimitStore({ redis: undefined, keyPrefix: 'x:', logger: createLogger({ service: 'ingest', version: 't', level: 'silent' }), metrics });
    const store = new Store({});
    const incr = (key: string, windowMs: number) =>
      new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr(key, (err, res) => (err !== null || res === undefined ? reject(err ?? new Error('no result')) : resolve(res)), windowMs, 10),
      );
    expect((await incr('a', 1000)).current).toBe(1);
    expect((await incr('a', 1000)).current).toBe(2);
    expect((await incr('b', 1000)).current).toBe(1);
    expect(degraded()).toBe(true);
    const first = await incr('c', 30);
    expect(first.ttl).toBeLessThanOrEqual(30);
    await new Promise((r) => setTimeout(r, 40));
    expect((await incr('c', 30)).current).toBe(1); // new window
  });
});
