/**
 * Acceptance records and GET /v1/orders/:orderId, with the display registry in KV and the edge's
 * and DLQ's receipts written the way they write them.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { orderAcceptedSubject, receiptSubject, type DisplayRecord, type Receipt } from '@orderwire/contracts';
import { KV_BUCKETS, STREAMS, ensureTopology } from '@orderwire/platform';
import { startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderStatusSchema } from '../src/schemas.js';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;
let kv: KV;
let client: string;
let otherTenant: string;
let writeOnly: string;

function display(tenant: string, displayId: string, stations: string[], status: DisplayRecord['status'] = 'enrolled'): DisplayRecord {
  return {
    v: 1,
    tenant,
    displayId,
    storeId: 'store-1',
    stations,
    consumer: `display_${tenant}_${displayId}`,
    status,
    createdAt: new Date().toISOString(),
  };
}

async function register(r: DisplayRecord): Promise<void> {
  await kv.put(`${r.tenant}.${r.displayId}`, JSON.stringify(r));
}

beforeAll(async () => {
  [nats, jwks] = await Promise.all([startNats(), startJwks()]);
  ins = await inspector(nats.url);
  // Displays registered before ingest starts: read by the initial sync.
  await ensureTopology(ins.nc, { streams: ['ORDERS', 'RECEIPTS'], buckets: [KV_BUCKETS.DISPLAYS] });
  kv = await new Kvm(ins.nc).open(KV_BUCKETS.DISPLAYS);
  await register(display('t1', 'd1', ['grill', 'fry']));
  await register(display('t1', 'd2', ['grill']));
  // A short publish retry window: the record-failure test waits it out once.
  t = await buildTestApp({ natsUrl: nats.url, jwksUrl: jwks.url, env: { INGEST_PUBLISH_RETRY_WINDOW: '1500ms' } });
  client = await jwks.sign({ tenant: 't1', scopes: ['orders:write', 'orders:read'] });
  otherTenant = await jwks.sign({ tenant: 't2', scopes: ['orders:write', 'orders:read'] });
  writeOnly = await jwks.sign({ tenant: 't1', scopes: ['orders:write'] });
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), jwks?.close()]);
});

type Status = {
  orderId: string;
  status: string;
  acceptedAt?: number;
  targetCount: number;
  summary: Record<string, number>;
  displays: Array<{ displayId: string; status: string; seq: number; stream?: string; at: number; edge?: string; deliveryCount?: number; reason?: string }>;
};
const lastReceipt = (subject: string) => ins.jsm.streams.getMessage(STREAMS.RECEIPTS, { last_by_subj: subject });
const ZERO = { pending: 0, delivered: 0, dead_lettered: 0, replayed: 0, expired: 0 };

const post = (body: unknown, token = client) =>
  t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body as object });
const postBatch = (orders: unknown[], token = client) =>
  t.app.inject({ method: 'POST', url: '/v1/orders/batch', headers: bearer(token), payload: { orders } });
const get = (orderId: string, token = client) =>
  t.app.inject({ method: 'GET', url: `/v1/orders/${encodeURIComponent(orderId)}`, headers: bearer(token) });

describe('acceptance records and GET /v1/orders/:orderId', () => {
  it('reads the registry at start and follows changes (watch, not scan)', async () => {
    expect(t.index.stationTargets('t1', 'store-1', 'grill')).toEqual(['d1', 'd2']);
    await register(display('t1', 'd3', ['grill']));
    await register(display('t2', 'dx', ['grill']));
    await register(display('t1', 'd4', ['grill'], 'decommissioned'));
    await waitFor(() => t.index.get('t2', 'dx') !== undefined, { message: 'watch delivered the new displays' });
    expect(t.index.stationTargets('t1', 'store-1', 'grill')).toEqual(['d1', 'd2', 'd3']);
    await kv.delete('t1.d3');
    await waitFor(() => t.index.stationTargets('t1', 'store-1', 'grill').length === 2, { message: 'delete applied' });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json<{ checks: Record<string, { ok: boolean }> }>().checks['display-registry']!.ok).toBe(true);
  });

  it('records the acceptance once, with every target display pending, in ONE RECEIPTS write', async () => {
    const o = order();
    const before = (await ins.jsm.streams.info(STREAMS.RECEIPTS)).state.messages;
    const res = await post(o);
    expect(res.statusCode).toBe(202);
    const { stream, seq, acceptedAt } = res.json<{ stream: string; seq: number; acceptedAt: number }>();
    expect(stream).toMatch(/^ORDERS_P\d+$/);
    expect((await ins.jsm.streams.info(STREAMS.RECEIPTS)).state.messages).toBe(before + 1);
    const record = await lastReceipt(orderAcceptedSubject('t1', String(o.orderId)));
    expect(record?.json()).toEqual({
      kind: 'order_accepted',
      tenant: 't1',
      orderId: o.orderId,
      at: acceptedAt,
      traceId: res.json<{ traceId: string }>().traceId,
      targets: [
        { displayId: 'd1', stream, seq },
        { displayId: 'd2', stream, seq },
      ],
    });
    const status = await get(String(o.orderId));
    expect(status.statusCode).toBe(200);
    const body = status.json<Status>();
    expect(Value.Check(OrderStatusSchema, body)).toBe(true);
    expect(body).toEqual({
      orderId: o.orderId,
      status: 'accepted',
      acceptedAt,
      targetCount: 2,
      summary: { ...ZERO, pending: 2 },
      displays: [
        { displayId: 'd1', status: 'pending', stream, seq, at: acceptedAt },
        { displayId: 'd2', status: 'pending', stream, seq, at: acceptedAt },
      ],
    });
  });

  it('answers 200 with zero targets for an accepted order no display receives yet — and says so', async () => {
    const o = order({ station: `empty-${Date.now()}` });
    const res = await post(o);
    expect(res.statusCode).toBe(202);
    const status = await get(String(o.orderId));
    expect(status.statusCode).toBe(200);
    expect(status.json<Status>()).toEqual({
      orderId: o.orderId,
      status: 'accepted',
      acceptedAt: res.json<{ acceptedAt: number }>().acceptedAt,
      targetCount: 0,
      summary: ZERO,
      displays: [],
    });
  });

  it('accepts orders without createdAt, single and batch, and reports them', async () => {
    const { createdAt: _a, ...single } = order();
    const one = await post(single);
    expect(one.statusCode).toBe(202);
    expect((await get(String(single.orderId))).json<Status>().targetCount).toBe(2);
    const { createdAt: _b, ...b1 } = order();
    const b2 = order();
    const batch = await postBatch([b1, b2]);
    expect(batch.statusCode).toBe(200);
    expect(batch.json<{ results: Array<{ status: number }> }>().results.map((r) => r.status)).toEqual([202, 202]);
    for (const o of [b1, b2]) expect((await get(String(o.orderId))).statusCode).toBe(200);
  });

  it('reflects delivered, dead_lettered and expired receipts; a retried duplicate never rewrites the record', async () => {
    const o = order();
    const res = await post(o);
    const { stream, seq, acceptedAt } = res.json<{ stream: string; seq: number; acceptedAt: number }>();
    const delivered: Receipt = {
      tenant: 't1',
      orderId: String(o.orderId),
      displayId: 'd1',
      status: 'delivered',
      stream,
      seq,
      at: Date.now(),
      edge: 'edge-1',
      deliveryCount: 1,
    };
    await ins.js.publish(receiptSubject('t1', String(o.orderId), 'd1'), JSON.stringify(delivered));

    const recordBefore = await lastReceipt(orderAcceptedSubject('t1', String(o.orderId)));
    const retry = await post(o);
    expect(retry.json<{ duplicate: boolean }>().duplicate).toBe(true);
    expect((await lastReceipt(orderAcceptedSubject('t1', String(o.orderId))))?.seq).toBe(recordBefore?.seq);
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.displays).toEqual([
      { displayId: 'd1', status: 'delivered', stream, seq, at: delivered.at, edge: 'edge-1', deliveryCount: 1 },
      { displayId: 'd2', status: 'pending', stream, seq, at: acceptedAt },
    ]);
    expect(body.summary).toEqual({ ...ZERO, pending: 1, delivered: 1 });
    const metrics = await t.metricsRegistry.text();
    expect(metrics).toMatch(/orderwire_ingest_acceptance_records_total\{[^}]*result="exists"[^}]*\} [1-9]/);

    // Dead-lettered (as the DLQ service records it) is reported with its reason.
    const dead: Receipt = { ...delivered, displayId: 'd2', status: 'dead_lettered', reason: 'display rejected: bad item', edge: undefined };
    await ins.js.publish(receiptSubject('t1', String(o.orderId), 'd2'), JSON.stringify(dead));
    const after = (await get(String(o.orderId))).json<Status>();
    expect(after.displays[1]).toEqual({ displayId: 'd2', status: 'dead_lettered', stream, seq, at: dead.at, deliveryCount: 1, reason: 'display rejected: bad item' });

    // Expired (the DLQ service's expiry detector) is reported with its stream and reason.
    const expired: Receipt = { tenant: 't1', orderId: String(o.orderId), displayId: 'd2', status: 'expired', stream, seq, at: Date.now(), reason: 'max_age' };
    await ins.js.publish(receiptSubject('t1', String(o.orderId), 'd2'), JSON.stringify(expired));
    const last = (await get(String(o.orderId))).json<Status>();
    expect(Value.Check(OrderStatusSchema, last)).toBe(true);
    expect(last.displays[1]).toEqual({ displayId: 'd2', status: 'expired', stream, seq, at: expired.at, reason: 'max_age' });
    expect(last.summary).toEqual({ ...ZERO, delivered: 1, expired: 1 });
  });

  it('lists the target displays of a targeted order, each with its own message', async () => {
    const o = order({ displayIds: ['d2', 'd9'] });
    const res = await post(o);
    const { targets } = res.json<{ targets: Array<{ displayId: string; seq: number }> }>();
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.targetCount).toBe(2);
    expect(body.displays.map((d) => [d.displayId, d.status, d.seq])).toEqual(targets.map((x) => [x.displayId, 'pending', x.seq]));
  });

  it('still reads the per-display pending receipts earlier versions wrote (no acceptance record)', async () => {
    const orderId = `legacy-${Date.now()}`;
    // Written before partitioning too: no stream.
    const pending: Omit<Receipt, 'stream'> = { tenant: 't1', orderId, displayId: 'd1', status: 'pending', seq: 3, at: 1000 };
    await ins.js.publish(receiptSubject('t1', orderId, 'd1'), JSON.stringify(pending));
    const body = (await get(orderId)).json<Status>();
    expect(body).toEqual({ orderId, status: 'accepted', targetCount: 1, summary: { ...ZERO, pending: 1 }, displays: [{ displayId: 'd1', status: 'pending', seq: 3, at: 1000 }] });
  });

  it('handles order ids with characters that are not subject-safe', async () => {
    const o = order({ orderId: `pos/1.2:#${Date.now()}` });
    expect((await post(o)).statusCode).toBe(202);
    const res = await get(String(o.orderId));
    expect(res.statusCode).toBe(200);
    expect(res.json<Status>().orderId).toBe(o.orderId);
  });

  it('is tenant-scoped: another tenant’s order is not found; unknown orders are 404; bad ids 400', async () => {
    const o = order();
    await post(o);
    const foreign = await get(String(o.orderId), otherTenant);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_NOT_FOUND');
    expect((await get('never-sent')).statusCode).toBe(404);
    const bad = await get('bad id with spaces');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { code: string; details: { field: string } } }>().error).toMatchObject({
      code: 'ORDERWIRE_ERR_INGEST_INVALID_ID',
      details: { field: 'orderId' },
    });
  });

  it('requires orders:read', async () => {
    const res = await get('whatever', writeOnly);
    expect(res.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/v1/orders/x' })).statusCode).toBe(401);
  });

  it('targets only active displays: a decommissioned display is not a target', async () => {
    await register(display('t1', 'd2', ['grill'], 'decommissioned'));
    await waitFor(() => t.index.stationTargets('t1', 'store-1', 'grill').length === 1, { message: 'decommission applied' });
    const o = order();
    await post(o);
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.displays.map((d) => d.displayId)).toEqual(['d1']);
  });

  it('answers 503 record_failed when the acceptance record cannot be written within the retry window; the retry completes it', async () => {
    const o = order();
    const saved = (await ins.jsm.streams.info(STREAMS.RECEIPTS)).config;
    await ins.jsm.streams.delete(STREAMS.RECEIPTS);
    let comesBack: Promise<unknown> | undefined;
    try {
      const res = await post(o);
      expect(res.statusCode).toBe(503);
      expect(res.json<{ error: { code: string; details: { reason: string } } }>().error).toMatchObject({
        code: 'ORDERWIRE_ERR_INGEST_UNAVAILABLE',
        details: { reason: 'record_failed' },
      });
      // A stream that comes back inside the window (an election, a restart) costs time, not a 503.
      const during = order();
      comesBack = post(during).then((r) => r.statusCode);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await ins.jsm.streams.add(saved);
    }
    expect(await comesBack).toBe(202);
    const retry = await post(o);
    expect(retry.statusCode).toBe(202);
    expect(retry.json<{ duplicate: boolean }>().duplicate).toBe(true);
    expect((await get(String(o.orderId))).json<Status>().targetCount).toBe(1);
    const metrics = await t.metricsRegistry.text();
    expect(metrics).toMatch(/orderwire_ingest_acceptance_records_total\{[^}]*result="failed"[^}]*\} [1-9]/);
  });
});
