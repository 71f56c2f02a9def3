/**
 * Pending receipts and GET /v1/orders/:orderId, with the display registry in KV and the edge's
 * receipts written the way the edge writes them.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { receiptSubject, type DisplayRecord, type Receipt } from '@orderwire/contracts';
import { KV_BUCKETS } from '@orderwire/platform';
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
  const { ensureTopology } = await import('@orderwire/platform');
  await ensureTopology(ins.nc, { streams: ['ORDERS', 'RECEIPTS'], buckets: [KV_BUCKETS.DISPLAYS] });
  kv = await new Kvm(ins.nc).open(KV_BUCKETS.DISPLAYS);
  await register(display('t1', 'd1', ['grill', 'fry']));
  await register(display('t1', 'd2', ['grill']));
  t = await buildTestApp({ natsUrl: nats.url, jwksUrl: jwks.url });
  client = await jwks.sign({ tenant: 't1', scopes: ['orders:write', 'orders:read'] });
  otherTenant = await jwks.sign({ tenant: 't2', scopes: ['orders:write', 'orders:read'] });
  writeOnly = await jwks.sign({ tenant: 't1', scopes: ['orders:write'] });
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), jwks?.close()]);
});

type Status = { orderId: string; displays: Array<{ displayId: string; status: string; seq: number; at: number; edge?: string; deliveryCount?: number; reason?: string }> };

const post = (body: unknown, token = client) =>
  t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(token), payload: body as object });
const get = (orderId: string, token = client) =>
  t.app.inject({ method: 'GET', url: `/v1/orders/${encodeURIComponent(orderId)}`, headers: bearer(token) });

describe('pending receipts and GET /v1/orders/:orderId', () => {
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

  it('writes a pending receipt per target display after the PubAck and reports it', async () => {
    const o = order();
    const res = await post(o);
    expect(res.statusCode).toBe(202);
    const { stream, seq, acceptedAt } = res.json<{ stream: string; seq: number; acceptedAt: number }>();
    const status = await get(String(o.orderId));
    expect(status.statusCode).toBe(200);
    const body = status.json<Status>();
    expect(Value.Check(OrderStatusSchema, body)).toBe(true);
    expect(body).toEqual({
      orderId: o.orderId,
      displays: [
        { displayId: 'd1', status: 'pending', stream, seq, at: acceptedAt },
        { displayId: 'd2', status: 'pending', stream, seq, at: acceptedAt },
      ],
    });
  });

  it('reflects the edge’s delivered receipt, and a late pending never overwrites it', async () => {
    const o = order();
    const res = await post(o);
    const { stream, seq } = res.json<{ stream: string; seq: number }>();
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

    // A retry of the same order (duplicate) writes pending again: it must not clobber delivered.
    const retry = await post(o);
    expect(retry.json<{ duplicate: boolean }>().duplicate).toBe(true);
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.displays).toEqual([
      { displayId: 'd1', status: 'delivered', stream, seq, at: delivered.at, edge: 'edge-1', deliveryCount: 1 },
      expect.objectContaining({ displayId: 'd2', status: 'pending', seq }),
    ]);
    const metrics = await t.metricsRegistry.text();
    expect(metrics).toMatch(/orderwire_ingest_pending_receipts_total\{[^}]*result="exists"[^}]*\} [2-9]/);

    // Dead-lettered (as the DLQ service records it) is reported with its reason.
    const dead: Receipt = { ...delivered, displayId: 'd2', status: 'dead_lettered', reason: 'display rejected: bad item', edge: undefined };
    await ins.js.publish(receiptSubject('t1', String(o.orderId), 'd2'), JSON.stringify(dead));
    const after = (await get(String(o.orderId))).json<Status>();
    expect(after.displays[1]).toEqual({ displayId: 'd2', status: 'dead_lettered', stream, seq, at: dead.at, deliveryCount: 1, reason: 'display rejected: bad item' });
  });

  it('writes pending receipts for the target displays of a targeted order', async () => {
    const o = order({ displayIds: ['d2', 'd9'] });
    const res = await post(o);
    const { targets } = res.json<{ targets: Array<{ displayId: string; seq: number }> }>();
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.displays.map((d) => [d.displayId, d.status, d.seq])).toEqual(targets.map((x) => [x.displayId, 'pending', x.seq]));
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

  it('targets only active displays: a decommissioned display gets no pending receipt', async () => {
    await register(display('t1', 'd2', ['grill'], 'decommissioned'));
    await waitFor(() => t.index.stationTargets('t1', 'store-1', 'grill').length === 1, { message: 'decommission applied' });
    const o = order();
    await post(o);
    const body = (await get(String(o.orderId))).json<Status>();
    expect(body.displays.map((d) => d.displayId)).toEqual(['d1']);
  });
});
