import { AUDIT_SUBJECT_PREFIX, displayConsumerName, displaySubject, HEADERS, receiptSubject, type Receipt } from '@orderwire/contracts';
import { STREAMS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit.js';
import type { EntrySummary, EntryView } from '../src/entry.js';
import type { BulkReplayResult, ReplayResult } from '../src/operations.js';
import { ORDER_STREAM, addDisplay, buildApp, metricValue, publishOrder, pull, reject, startEnv, waitForEntries, type Env, type TestApp } from './helpers.js';

let env: Env;
let app: TestApp;

beforeAll(async () => {
  env = await startEnv();
  app = await buildApp(env);
});

afterAll(async () => {
  await app?.close();
  await env?.dispose();
});

const ALL = ['dlq:read', 'dlq:replay'] as const;

async function call(
  tenant: string,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  body?: unknown,
  scopes: readonly ('dlq:read' | 'dlq:replay')[] = ALL,
): Promise<LightMyRequestResponse> {
  const token = await env.token(tenant, scopes);
  return app.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function errorCode(res: LightMyRequestResponse): string {
  return (res.json<{ error: { code: string } }>()).error.code;
}

async function lastAudit(tenant: string, event: string): Promise<AuditEvent | undefined> {
  const m = await env.jsm.streams.getMessage(STREAMS.AUDIT, { last_by_subj: `${AUDIT_SUBJECT_PREFIX}.${tenant}.${event}` });
  return m === null ? undefined : m.json<AuditEvent>();
}

async function receipt(tenant: string, orderId: string, displayId: string): Promise<Receipt | undefined> {
  const m = await env.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: receiptSubject(tenant, orderId, displayId) });
  return m === null ? undefined : m.json<Receipt>();
}

async function list(tenant: string, query: string): Promise<{ items: EntrySummary[]; nextCursor: string | null }> {
  const res = await call(tenant, 'GET', `/v1/dlq${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe('replay', () => {
  it('replays to the display subject only; the display pulls it with the replay headers; entry, receipt and audit follow', async () => {
    // Two displays on the same station: both got the original; only kds-1 rejected it.
    await addDisplay(env, 'rp', 's1', 'kds-1', ['grill']);
    await addDisplay(env, 'rp', 's1', 'kds-2', ['grill']);
    const seq = await publishOrder(env, 'rp', 's1', 'P-1', { station: 'grill' });
    await reject(env, 'rp', 'kds-1', 'rejected: unknown item');
    (await pull(env, 'rp', 'kds-2'))!.ack();
    const [e] = await waitForEntries(app, 'rp', 1);

    const res = await call('rp', 'POST', `/v1/dlq/${e!.id}/replay`, { note: 'menu fixed' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<ReplayResult>();
    expect(body.replay).toMatchObject({ n: 1, subject: displaySubject('rp', 's1', 'kds-1'), msgId: `!replay:${e!.id}:1`, duplicate: false });
    expect(body.entry).toMatchObject({ id: e!.id, status: 'replayed', replayCount: 1 });
    expect(body.entry.lastReplay).toMatchObject({ n: 1, by: { type: 'client', id: 'operator-client' }, note: 'menu fixed' });

    const m = await pull(env, 'rp', 'kds-1');
    expect(m).not.toBeNull();
    expect(m!.subject).toBe(displaySubject('rp', 's1', 'kds-1'));
    expect(m!.seq).toBe(body.replay.seq);
    expect(m!.headers?.get(HEADERS.replayOf)).toBe(`${ORDER_STREAM}:${seq}`);
    expect(m!.headers?.get(HEADERS.dlqId)).toBe(e!.id);
    expect(m!.headers?.get(HEADERS.orderId)).toBe('P-1');
    expect(m!.headers?.get(HEADERS.msgId)).toBe(`!replay:${e!.id}:1`);
    expect(Buffer.from(m!.data).toString('base64')).toBe(e!.original!.data);
    m!.ack();
    expect(await pull(env, 'rp', 'kds-2', 1_000)).toBeNull(); // the other display is untouched

    expect(await receipt('rp', 'P-1', 'kds-1')).toMatchObject({ status: 'replayed', seq: body.replay.seq });
    expect(await lastAudit('rp', 'dlq_replayed')).toMatchObject({
      event: 'dlq_replayed',
      tenant: 'rp',
      service: 'dlq',
      actor: { type: 'client', id: 'operator-client' },
      entryId: e!.id,
      orderId: 'P-1',
      displayId: 'kds-1',
      replaySeq: body.replay.seq,
      reason: 'menu fixed',
    });
    const shown = (await call('rp', 'GET', `/v1/dlq/${e!.id}`)).json<EntryView>();
    expect(shown.status).toBe('replayed');
    expect(await metricValue(app, 'orderwire_dlq_replayed_total')).toBeGreaterThanOrEqual(1);

    // A replayed entry is not replayed twice by accident.
    const again = await call('rp', 'POST', `/v1/dlq/${e!.id}/replay`);
    expect(again.statusCode).toBe(409);
    expect(errorCode(again)).toBe('ORDERWIRE_ERR_DLQ_INVALID_STATE');
  });

  it('reopens the same entry when the replayed copy fails again', async () => {
    await addDisplay(env, 'ro', 's1', 'kds-1', ['grill']);
    await publishOrder(env, 'ro', 's1', 'R-1', { station: 'grill' });
    await reject(env, 'ro', 'kds-1', 'rejected: first');
    const [e] = await waitForEntries(app, 'ro', 1);
    expect((await call('ro', 'POST', `/v1/dlq/${e!.id}/replay`)).statusCode).toBe(200);
    const copy = await reject(env, 'ro', 'kds-1', 'rejected: second');

    const reopened = (await waitFor(async () => {
      const cur = await app.ops.get('ro', e!.id);
      return cur.status === 'open' ? cur : undefined;
    }))!;
    expect(reopened).toMatchObject({ failureCount: 2, reason: 'rejected', detail: 'second', replayCount: 1, firstFailedAt: e!.firstFailedAt });
    expect(reopened.failures.map((f) => f.seq)).toEqual([e!.seq, copy.seq]);
    expect(Date.parse(reopened.lastFailedAt)).toBeGreaterThanOrEqual(Date.parse(reopened.firstFailedAt));
    expect((await app.ops.list('ro', {}, {})).items).toHaveLength(1);
    expect(await receipt('ro', 'R-1', 'kds-1')).toMatchObject({ status: 'dead_lettered', seq: copy.seq, reason: 'rejected: second' });

    const second = await call('ro', 'POST', `/v1/dlq/${e!.id}/replay`);
    expect(second.statusCode).toBe(200);
    expect(second.json<ReplayResult>().replay).toMatchObject({ n: 2, msgId: `!replay:${e!.id}:2` });
  });

  it('bulk replay: dryRun lists what would be replayed and changes nothing; then replays in original order', async () => {
    await addDisplay(env, 'bulk', 's1', 'kds-1', ['grill']);
    await addDisplay(env, 'bulk', 's1', 'kds-2', ['fryer']);
    const seqs: number[] = [];
    for (const id of ['B-1', 'B-2', 'B-3']) {
      seqs.push(await publishOrder(env, 'bulk', 's1', id, { station: 'grill' }));
      await reject(env, 'bulk', 'kds-1', 'rejected: x');
    }
    await publishOrder(env, 'bulk', 's1', 'B-9', { station: 'fryer' });
    await reject(env, 'bulk', 'kds-2', 'rejected: y');
    await waitForEntries(app, 'bulk', 4);

    const dry = await call('bulk', 'POST', '/v1/dlq/replay', { filter: { displayId: 'kds-1' }, dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    const d = dry.json<BulkReplayResult>();
    expect(d).toMatchObject({ dryRun: true, matched: 3, selected: 3, truncated: false, replayed: 0 });
    expect(d.items.map((i) => [i.orderId, i.result])).toEqual([
      ['B-1', 'would_replay'],
      ['B-2', 'would_replay'],
      ['B-3', 'would_replay'],
    ]);
    expect((await app.ops.list('bulk', { status: 'open' }, {})).items).toHaveLength(4);
    expect(await pull(env, 'bulk', 'kds-1', 1_000)).toBeNull();

    const limited = (await call('bulk', 'POST', '/v1/dlq/replay', { filter: { displayId: 'kds-1' }, dryRun: true, max: 2 })).json<BulkReplayResult>();
    expect(limited).toMatchObject({ matched: 3, selected: 2, truncated: true });

    const run = await call('bulk', 'POST', '/v1/dlq/replay', { filter: { displayId: 'kds-1' }, note: 'after fix' });
    expect(run.statusCode, run.body).toBe(200);
    const r = run.json<BulkReplayResult>();
    expect(r).toMatchObject({ dryRun: false, matched: 3, replayed: 3 });
    expect(r.items.every((i) => i.result === 'replayed' && i.status === 'replayed')).toBe(true);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await pull(env, 'bulk', 'kds-1');
      got.push(m!.headers!.get(HEADERS.orderId));
      expect(m!.headers!.get(HEADERS.replayOf)).toBe(`${ORDER_STREAM}:${seqs[i]}`);
      m!.ack();
    }
    expect(got).toEqual(['B-1', 'B-2', 'B-3']);
    // kds-2's entry stays open; a second run finds nothing for kds-1.
    expect((await app.ops.list('bulk', { status: 'open' }, {})).items.map((e) => e.displayId)).toEqual(['kds-2']);
    const none = (await call('bulk', 'POST', '/v1/dlq/replay', { filter: { displayId: 'kds-1' } })).json<BulkReplayResult>();
    expect(none).toMatchObject({ matched: 0, replayed: 0, items: [] });
  });

  it('discards with a required reason, audits it, and can replay a discarded entry (undo)', async () => {
    await addDisplay(env, 'ds', 's1', 'kds-1', ['grill']);
    await publishOrder(env, 'ds', 's1', 'Z-1', { station: 'grill' });
    await reject(env, 'ds', 'kds-1', 'rejected: test order');
    const [e] = await waitForEntries(app, 'ds', 1);

    const missing = await call('ds', 'DELETE', `/v1/dlq/${e!.id}`, {});
    expect(missing.statusCode).toBe(400);
    expect(errorCode(missing)).toBe('ORDERWIRE_ERR_DLQ_INVALID_REQUEST');
    const noBody = await call('ds', 'DELETE', `/v1/dlq/${e!.id}`);
    expect(noBody.statusCode).toBe(400);

    const res = await call('ds', 'DELETE', `/v1/dlq/${e!.id}`, { reason: 'test order, not real' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ entry: EntrySummary }>().entry).toMatchObject({
      status: 'discarded',
      discard: { by: { type: 'client', id: 'operator-client' }, reason: 'test order, not real' },
    });
    expect(await lastAudit('ds', 'dlq_discarded')).toMatchObject({ entryId: e!.id, reason: 'test order, not real', actor: { id: 'operator-client' } });
    expect(await metricValue(app, 'orderwire_dlq_discarded_total')).toBeGreaterThanOrEqual(1);

    const twice = await call('ds', 'DELETE', `/v1/dlq/${e!.id}`, { reason: 'again' });
    expect(twice.statusCode).toBe(409);
    expect(errorCode(twice)).toBe('ORDERWIRE_ERR_DLQ_INVALID_STATE');

    const undo = await call('ds', 'POST', `/v1/dlq/${e!.id}/replay`);
    expect(undo.statusCode, undo.body).toBe(200);
    (await pull(env, 'ds', 'kds-1'))!.ack();
  });

  it('refuses to replay an entry whose original had expired, and one whose display is gone', async () => {
    await addDisplay(env, 'gone', 's1', 'kds-1', ['grill']);
    await addDisplay(env, 'gone', 's1', 'kds-2', ['grill']);
    const seq = await publishOrder(env, 'gone', 's1', 'G-1', { station: 'grill' });
    await app.close();
    await reject(env, 'gone', 'kds-1', 'rejected: a');
    await reject(env, 'gone', 'kds-2', 'rejected: b');
    await env.jsm.streams.deleteMessage(ORDER_STREAM, seq);
    app = await buildApp(env);
    const entries = await waitForEntries(app, 'gone', 2);
    const expired = await call('gone', 'POST', `/v1/dlq/${entries[0]!.id}/replay`);
    expect(expired.statusCode).toBe(409);
    expect(errorCode(expired)).toBe('ORDERWIRE_ERR_DLQ_ORIGINAL_EXPIRED');

    await addDisplay(env, 'gone', 's1', 'kds-3', ['fryer']);
    await publishOrder(env, 'gone', 's1', 'G-2', { station: 'fryer' });
    await reject(env, 'gone', 'kds-3', 'rejected: c');
    const e3 = (await waitForEntries(app, 'gone', 3)).find((e) => e.displayId === 'kds-3')!;
    await env.jsm.consumers.delete(ORDER_STREAM, displayConsumerName('gone', 'kds-3'));
    const noMailbox = await call('gone', 'POST', `/v1/dlq/${e3.id}/replay`);
    expect(noMailbox.statusCode).toBe(409);
    expect(errorCode(noMailbox)).toBe('ORDERWIRE_ERR_DLQ_DISPLAY_GONE');
  });
});

describe('listing', () => {
  const tenant = 'pg';
  const ids: string[] = [];

  beforeAll(async () => {
    const displays = ['d0', 'd1', 'd2'];
    for (const d of displays) await addDisplay(env, tenant, d === 'd2' ? 's2' : 's1', d, [`st-${d}`]);
    for (let i = 0; i < 30; i++) {
      const d = displays[i % 3]!;
      await publishOrder(env, tenant, d === 'd2' ? 's2' : 's1', `O-${i}`, { station: `st-${d}` });
      await reject(env, tenant, d, i % 5 === 0 ? 'operator test' : `rejected: bad ${i}`);
    }
    const entries = await waitForEntries(app, tenant, 30);
    ids.push(...entries.map((e) => e.id));
  });

  it('pages through 30 entries 7 at a time, newest first, with no duplicates or gaps', async () => {
    const seen: EntrySummary[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `?limit=7${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const p = await list(tenant, q);
      expect(p.items.length).toBeLessThanOrEqual(7);
      seen.push(...p.items);
      cursor = p.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(5);
    expect(seen).toHaveLength(30);
    expect(new Set(seen.map((e) => e.id))).toEqual(new Set(ids));
    const times = seen.map((e) => Date.parse(e.firstFailedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    // Summaries do not carry the payload.
    expect(seen[0]).not.toHaveProperty('original');
  });

  it('filters by store, display, order id, reason, status and time', async () => {
    expect((await list(tenant, '?storeId=s2&limit=200')).items.every((e) => e.storeId === 's2')).toBe(true);
    expect((await list(tenant, '?storeId=s2&limit=200')).items).toHaveLength(10);
    expect((await list(tenant, '?displayId=d1&limit=200')).items).toHaveLength(10);
    const one = await list(tenant, '?orderId=O-7');
    expect(one.items.map((e) => [e.orderId, e.displayId])).toEqual([['O-7', 'd1']]);
    expect((await list(tenant, '?reason=terminated&limit=200')).items).toHaveLength(6);
    expect((await list(tenant, '?reason=rejected&limit=200')).items).toHaveLength(24);
    expect((await list(tenant, '?reason=max_deliveries')).items).toHaveLength(0);

    const all = (await list(tenant, '?limit=200')).items;
    const oldestFirst = [...all].reverse();
    const from = oldestFirst[10]!.firstFailedAt;
    const to = oldestFirst[20]!.firstFailedAt;
    const window = (await list(tenant, `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=200`)).items;
    const expected = all.filter((e) => e.firstFailedAt >= from && e.firstFailedAt < to).map((e) => e.id);
    expect(window.map((e) => e.id)).toEqual(expected);
    expect(expected.length).toBeGreaterThanOrEqual(1);
    expect(expected.length).toBeLessThan(30);

    const target = all.find((e) => e.displayId === 'd0')!;
    expect((await call(tenant, 'DELETE', `/v1/dlq/${target.id}`, { reason: 'cleanup' })).statusCode).toBe(200);
    const discarded = (await list(tenant, '?status=discarded')).items;
    expect(discarded.map((e) => e.id)).toEqual([target.id]);
    expect((await list(tenant, '?status=open&limit=200')).items).toHaveLength(29);
    const combined = (await list(tenant, '?status=open&displayId=d0&reason=rejected&limit=200')).items;
    expect(combined.every((e) => e.status === 'open' && e.displayId === 'd0' && e.reason === 'rejected')).toBe(true);
  });

  it('refuses bad filters, bad cursors and unknown ids with clear 4xx codes', async () => {
    const cases: [string, string][] = [
      ['?foo=1', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?limit=0', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?limit=201', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?limit=ten', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?reason=broken', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?status=closed', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?status=open&status=replayed', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?from=yesterday', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?storeId=a.b', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?displayId=*', 'ORDERWIRE_ERR_DLQ_INVALID_FILTER'],
      ['?cursor=garbage', 'ORDERWIRE_ERR_DLQ_INVALID_CURSOR'],
      ['?cursor=%24%24', 'ORDERWIRE_ERR_DLQ_INVALID_CURSOR'],
    ];
    for (const [q, code] of cases) {
      const res = await call(tenant, 'GET', `/v1/dlq${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(errorCode(res), q).toBe(code);
    }
    // A cursor is bound to its filter.
    const first = await list(tenant, '?limit=2&displayId=d1');
    const mismatched = await call(tenant, 'GET', `/v1/dlq?limit=2&displayId=d2&cursor=${first.nextCursor!}`);
    expect(mismatched.statusCode).toBe(400);
    expect(errorCode(mismatched)).toBe('ORDERWIRE_ERR_DLQ_INVALID_CURSOR');

    const badId = await call(tenant, 'GET', '/v1/dlq/not-an-id');
    expect(badId.statusCode).toBe(400);
    expect(errorCode(badId)).toBe('ORDERWIRE_ERR_DLQ_INVALID_ID');
    const unknown = 'f'.repeat(24);
    for (const [method, url, body] of [
      ['GET', `/v1/dlq/${unknown}`, undefined],
      ['POST', `/v1/dlq/${unknown}/replay`, undefined],
      ['DELETE', `/v1/dlq/${unknown}`, { reason: 'x' }],
    ] as const) {
      const res = await call(tenant, method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(errorCode(res)).toBe('ORDERWIRE_ERR_DLQ_ENTRY_NOT_FOUND');
    }
    const extraQuery = await call(tenant, 'GET', `/v1/dlq/${ids[0]!}?verbose=1`);
    expect(extraQuery.statusCode).toBe(400);
    for (const body of [{}, { filter: [] }, { filter: { status: 'replayed' } }, { filter: {}, dryRun: 'yes' }, { filter: {}, max: 501 }, { filter: {}, extra: 1 }]) {
      const res = await call(tenant, 'POST', '/v1/dlq/replay', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const unknownField = await call(tenant, 'POST', `/v1/dlq/${ids[0]!}/replay`, { force: true });
    expect(unknownField.statusCode).toBe(400);
    expect(errorCode(unknownField)).toBe('ORDERWIRE_ERR_DLQ_INVALID_REQUEST');
  });

  it("keeps another tenant's entries invisible", async () => {
    const other = await list('intruder', '?limit=200');
    expect(other.items).toHaveLength(0);
    for (const [method, url, body] of [
      ['GET', `/v1/dlq/${ids[1]!}`, undefined],
      ['POST', `/v1/dlq/${ids[1]!}/replay`, undefined],
      ['DELETE', `/v1/dlq/${ids[1]!}`, { reason: 'mine now' }],
    ] as const) {
      const res = await call('intruder', method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    const dry = (await call('intruder', 'POST', '/v1/dlq/replay', { filter: {}, dryRun: true })).json<BulkReplayResult>();
    expect(dry.matched).toBe(0);
    expect((await app.ops.get(tenant, ids[1]!)).status).toBe('open');
  });

  it('requires a token with the right scope', async () => {
    const anonymous = await app.app.inject({ method: 'GET', url: '/v1/dlq' });
    expect(anonymous.statusCode).toBe(401);
    const readOnly = await call(tenant, 'POST', `/v1/dlq/${ids[2]!}/replay`, undefined, ['dlq:read']);
    expect(readOnly.statusCode).toBe(403);
    const replayOnly = await call(tenant, 'GET', '/v1/dlq', undefined, ['dlq:replay']);
    expect(replayOnly.statusCode).toBe(403);
  });

  it('exports the DLQ metrics', async () => {
    const res = await app.app.inject({ method: 'GET', url: '/metrics' });
    for (const name of [
      'orderwire_dlq_entries_total',
      'orderwire_dlq_replayed_total',
      'orderwire_dlq_discarded_total',
      'orderwire_dlq_depth',
      'orderwire_dlq_advisory_lag_seconds_bucket',
      'orderwire_dlq_advisories_pending',
    ]) {
      expect(res.body).toContain(name);
    }
    const depth = await metricValue(app, 'orderwire_dlq_depth');
    expect(depth).toBe(app.index.openCount());
    expect(depth).toBeGreaterThanOrEqual(29);
  });
});
