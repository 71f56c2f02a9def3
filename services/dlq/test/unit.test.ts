import { readFileSync } from 'node:fs';
import { createMetrics } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';
import { classify, parseAdvisory, receiptReason } from '../src/advisory.js';
import { CONFIG_SPEC, DEFAULT_PORT, loadDlqConfig } from '../src/config.js';
import { entryIdFor, isEntryId, parseEntry, summarize, viewOf, type DlqEntry } from '../src/entry.js';
import type { IndexedEntry } from '../src/entry-index.js';
import { createDlqMetrics } from '../src/metrics.js';
import { decodeCursor, encodeCursor, page, parseFilter, parsePageRequest, replaySelection } from '../src/query.js';
import { candidateSplits } from '../src/resolve.js';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('advisories', () => {
  it('parses the nats-server 2.10 terminated and max_deliver payloads', () => {
    const t = parseAdvisory(
      enc({
        type: 'io.nats.jetstream.advisory.v1.terminated',
        id: 'a1',
        timestamp: '2026-01-02T03:04:05.123456789Z',
        stream: 'ORDERS',
        consumer: 'display_acme_kds-1',
        consumer_seq: 4,
        stream_seq: 17,
        deliveries: 3,
        reason: 'rejected: bad item',
      }),
    );
    expect(t).toEqual({
      ok: true,
      advisory: {
        kind: 'terminated',
        id: 'a1',
        timestamp: '2026-01-02T03:04:05.123456789Z',
        at: Date.parse('2026-01-02T03:04:05.123Z'),
        stream: 'ORDERS',
        consumer: 'display_acme_kds-1',
        streamSeq: 17,
        deliveries: 3,
        termReason: 'rejected: bad item',
      },
    });
    const m = parseAdvisory(
      enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'a2', timestamp: '2026-01-02T03:04:05Z', stream: 'ORDERS', consumer: 'c', stream_seq: 9, deliveries: 50 }),
    );
    expect(m.ok && m.advisory.kind === 'max_deliver' && m.advisory.deliveries === 50).toBe(true);
  });

  it('refuses what is not a consumer advisory', () => {
    expect(parseAdvisory(new TextEncoder().encode('nope')).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.nak', id: 'x' })).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'x', timestamp: 'later', stream: 'ORDERS', consumer: 'c', stream_seq: 1 })).ok).toBe(false);
    expect(parseAdvisory(enc({ type: 'io.nats.jetstream.advisory.v1.max_deliver', id: 'x', timestamp: '2026-01-02T03:04:05Z', stream: 'ORDERS', consumer: 'c', stream_seq: 0 })).ok).toBe(false);
  });

  it('classifies rejections, other terminations and max deliveries', () => {
    const base = { kind: 'terminated' as const, id: 'i', timestamp: '', at: 0, stream: 'ORDERS', consumer: 'c', streamSeq: 1, deliveries: 1 };
    expect(classify({ ...base, termReason: 'rejected: no such item ' })).toEqual({ reason: 'rejected', detail: 'no such item' });
    expect(classify({ ...base, termReason: 'schema mismatch' })).toEqual({ reason: 'terminated', detail: 'schema mismatch' });
    expect(classify({ ...base })).toEqual({ reason: 'terminated' });
    expect(classify({ ...base, kind: 'max_deliver' })).toEqual({ reason: 'max_deliveries' });
    expect(classify({ ...base, termReason: `rejected: ${'x'.repeat(900)}` }).detail).toHaveLength(500);
    expect(receiptReason('rejected', 'bad')).toBe('rejected: bad');
    expect(receiptReason('max_deliveries', undefined)).toBe('max_deliveries');
  });
});

describe('consumer names', () => {
  it('lists every reading of an ambiguous display consumer name', () => {
    expect(candidateSplits('display_a_b_c')).toEqual([
      { tenant: 'a', displayId: 'b_c' },
      { tenant: 'a_b', displayId: 'c' },
    ]);
    expect(candidateSplits('display_acme_kds-1')).toEqual([{ tenant: 'acme', displayId: 'kds-1' }]);
    expect(candidateSplits('other_a_b')).toEqual([]);
    expect(candidateSplits('display__x')).toEqual([]);
  });
});

describe('entry ids', () => {
  it('are deterministic per (stream incarnation, sequence, consumer) and subject-safe', () => {
    const a = entryIdFor('ORDERS', '2026-01-01T00:00:00Z', 5, 'display_t_d');
    expect(entryIdFor('ORDERS', '2026-01-01T00:00:00Z', 5, 'display_t_d')).toBe(a);
    expect(isEntryId(a)).toBe(true);
    expect(entryIdFor('ORDERS', '2026-01-01T00:00:00Z', 6, 'display_t_d')).not.toBe(a);
    expect(entryIdFor('ORDERS', '2026-01-01T00:00:00Z', 5, 'display_t_e')).not.toBe(a);
    expect(entryIdFor('ORDERS', '2026-02-01T00:00:00Z', 5, 'display_t_d')).not.toBe(a);
    expect(isEntryId('A'.repeat(24))).toBe(false);
    expect(isEntryId('a'.repeat(23))).toBe(false);
  });
});

function entry(i: number, overrides: Partial<DlqEntry> = {}): DlqEntry {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    v: 1,
    id: entryIdFor('ORDERS', 'x', i, 'display_t_d'),
    tenant: 't',
    storeId: i % 2 === 0 ? 's0' : 's1',
    displayId: 'd',
    orderId: `O-${i}`,
    subject: 'orders.t.s0.grill',
    seq: 100 + i,
    consumer: 'display_t_d',
    reason: 'rejected',
    detail: 'x',
    deliveryCount: 1,
    failureCount: 1,
    firstFailedAt: at,
    lastFailedAt: at,
    failures: [],
    originalExpired: false,
    original: { subject: 'orders.t.s0.grill', seq: 100 + i, storedAt: at, headers: {}, data: Buffer.from('{"a":1}').toString('base64') },
    status: 'open',
    statusChangedAt: at,
    replayCount: 0,
    traceId: null,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

function indexed(e: DlqEntry): IndexedEntry {
  return { summary: summarize(e), firstFailedMs: Date.parse(e.firstFailedAt), lastFailedMs: Date.parse(e.lastFailedAt), storedMs: 0 };
}

describe('entries', () => {
  it('round-trip through their stored form; views decode a JSON payload', () => {
    const e = entry(1);
    expect(parseEntry(new TextEncoder().encode(JSON.stringify(e)))).toEqual(e);
    expect(parseEntry(new TextEncoder().encode(JSON.stringify({ ...e, status: 'weird' })))).toBeUndefined();
    expect(parseEntry(new TextEncoder().encode('{'))).toBeUndefined();
    expect(viewOf(e).original?.payload).toEqual({ a: 1 });
    expect(summarize(e)).not.toHaveProperty('original');
  });
});

describe('filters and cursors', () => {
  it('parses filters strictly', () => {
    expect(parseFilter({ storeId: 's1', reason: 'rejected', from: '2026-01-01T00:00:00Z' })).toEqual({
      storeId: 's1',
      reason: 'rejected',
      from: Date.parse('2026-01-01T00:00:00Z'),
    });
    for (const bad of [{ nope: '1' }, { storeId: 'a b' }, { orderId: 'x y' }, { status: 'gone' }, { from: '2026-01-01' }, { storeId: ['a', 'b'] }, { reason: 5 }]) {
      expect(() => parseFilter(bad as Record<string, unknown>), JSON.stringify(bad)).toThrow(/invalid filter/);
    }
    expect(() => parseFilter({ status: 'replayed' }, { statuses: ['open', 'discarded'] })).toThrow(/status must be one of open, discarded/);
    expect(() => parsePageRequest({ limit: '500' })).toThrow(/limit/);
    expect(parsePageRequest({ limit: '200', cursor: 'abc' })).toEqual({ limit: 200, cursor: 'abc' });
  });

  it('pages newest first with ties broken by id, and binds cursors to their filter', () => {
    const same = new Date(Date.UTC(2026, 0, 1)).toISOString();
    const all = [...Array.from({ length: 9 }, (_, i) => entry(i)), entry(50, { firstFailedAt: same }), entry(51, { firstFailedAt: same })].map(indexed);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 10; n++) {
      const p = page('t', all, {}, { limit: 4, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...p.items.map((e) => e.id));
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    expect(seen).toHaveLength(11);
    expect(new Set(seen).size).toBe(11);
    const f = { storeId: 's0' };
    const c = encodeCursor('t', f, all[0]!);
    expect(decodeCursor('t', f, c).id).toBe(all[0]!.summary.id);
    expect(() => decodeCursor('t', { storeId: 's1' }, c)).toThrow(/different filter/);
    expect(() => decodeCursor('u', f, c)).toThrow(/different filter/);
    expect(() => decodeCursor('t', f, 'bm90IGpzb24')).toThrow(/invalid cursor/);
  });

  it('selects replays oldest original first, up to the bound', () => {
    const all = [entry(3), entry(1), entry(2), entry(4, { status: 'replayed' })].map(indexed);
    const r = replaySelection(all, { status: 'open' }, 2);
    expect(r.matched).toBe(3);
    expect(r.selected.map((e) => e.seq)).toEqual([101, 102]);
  });
});

describe('configuration', () => {
  it('defaults to port 3004 and validates DLQ_ variables', () => {
    expect(loadDlqConfig({}).port).toBe(DEFAULT_PORT);
    expect(() => loadDlqConfig({ DLQ_REPLAY_MAX: '0' })).toThrow(/DLQ_REPLAY_MAX/);
    expect(() => loadDlqConfig({ DLQ_CAPTURE_CONSUMER: 'a.b' })).toThrow(/DLQ_CAPTURE_CONSUMER/);
  });
});

describe('docs/dlq.md', () => {
  const doc = readFileSync(new URL('../../../docs/dlq.md', import.meta.url), 'utf8');

  it('lists every environment variable', () => {
    for (const spec of Object.values(CONFIG_SPEC)) expect(doc, spec.env).toContain(spec.env);
  });

  it('lists every metric', async () => {
    const metrics = createMetrics({ service: 'dlq', defaultMetrics: false });
    createDlqMetrics(metrics);
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThanOrEqual(9);
    for (const name of names) expect(doc, name).toContain(name);
  });
});
