/** Dead-letter entries: display consumer names, entry ids, summaries, filters, cursors and pages. */
import { describe, expect, it } from 'vitest';
import { entryIdFor, isEntryId, parseEntry, summarize, viewOf, type DlqEntry } from '../src/entry.js';
import type { IndexedEntry } from '../src/entry-index.js';
import { decodeCursor, encodeCursor, page, parseFilter, parsePageRequest, replaySelection } from '../src/query.js';
import { candidateSplits } from '../src/resolve.js';

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
    stream: 'ORDERS_P0',
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
