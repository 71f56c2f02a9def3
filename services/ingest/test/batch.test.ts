/**
 * POST /v1/orders/batch: items validated independently, good ones published pipelined.
 */
import { ORDER_BATCH_MAX, stationSubject } from '@orderwire/contracts';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchResponseSchema } from '../src/schemas.js';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;
let writer: string;

beforeAll(async () => {
  [nats, jwks] = await Promise.all([startNats(), startJwks()]);
  // No Redis: the limiter counts per process (the fail-open path), batches do not depend on it.
  t = await buildTestApp({ natsUrl: nats.url, jwksUrl: jwks.url });
  ins = await inspector(nats.url);
  writer = await jwks.sign({ tenant: 't1', scopes: ['orders:write'] });
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), jwks?.close()]);
});

type Item = {
  index: number;
  ok: boolean;
  status: number;
  outcome: string;
  orderId?: string;
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: string; details?: { field?: string } };
};

function postBatch(body: unknown, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url: '/v1/orders/batch', headers: { ...bearer(writer), ...headers }, payload: body as object });
}

describe('POST /v1/orders/batch', () => {
  it('publishes the good orders and reports each bad one, in request order', async () => {
    const before = await ins.ordersCount();
    const good1 = order();
    const good2 = order({ displayIds: ['d-1', 'd-2'] });
    const orders = [
      good1,
      order({ items: [] }),
      order({ storeId: 'a.b' }),
      good2,
      { ...good1, items: [{ name: 'other', qty: 1 }] },
      'not an object',
    ];
    const res = await postBatch({ orders });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ results: Item[]; accepted: number; rejected: number }>();
    expect(Value.Check(BatchResponseSchema, body)).toBe(true);
    expect(body.accepted).toBe(2);
    expect(body.rejected).toBe(4);
    const r = body.results;
    expect(r.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.map((x) => x.outcome)).toEqual(['accepted', 'rejected', 'rejected', 'accepted', 'rejected', 'rejected']);
    expect(r[0]).toMatchObject({ ok: true, status: 202, orderId: good1.orderId, duplicate: false });
    expect(r[1]!.error!.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_ORDER');
    expect(r[2]!.error).toMatchObject({ code: 'ORDERWIRE_ERR_INGEST_INVALID_ID', details: { field: 'storeId' } });
    expect(r[3]).toMatchObject({ ok: true, status: 202, orderId: good2.orderId });
    expect(r[4]).toMatchObject({ ok: false, status: 400, orderId: good1.orderId, error: { code: 'ORDERWIRE_ERR_INGEST_DUPLICATE_IN_BATCH' } });
    expect(r[5]!.error!.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_ORDER');
    // One message for the station order, one per target display for the targeted one.
    expect(await ins.ordersCount()).toBe(before + 3);
    const m0 = await ins.jsm.streams.getMessage(r[0]!.stream!, { seq: r[0]!.seq! });
    expect(m0!.subject).toBe(stationSubject('t1', 'store-1', 'grill'));
  });

  it('answers a repeated batch with duplicates and the same sequences', async () => {
    const orders = [order(), order(), order()];
    const first = await postBatch({ orders });
    expect(first.statusCode).toBe(200);
    const before = await ins.ordersCount();
    const again = await postBatch({ orders });
    const a = first.json<{ results: Item[] }>().results;
    const b = again.json<{ results: Item[] }>().results;
    expect(b.map((x) => x.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(b.map((x) => x.seq)).toEqual(a.map((x) => x.seq));
    expect(await ins.ordersCount()).toBe(before);
  });

  it('takes ORDER_BATCH_MAX orders, refuses more with 413 and an empty or malformed batch with 400', async () => {
    const full = await postBatch({ orders: Array.from({ length: ORDER_BATCH_MAX }, () => order()) });
    expect(full.statusCode).toBe(200);
    expect(full.json<{ accepted: number }>().accepted).toBe(ORDER_BATCH_MAX);

    const before = await ins.ordersCount();
    const tooMany = await postBatch({ orders: Array.from({ length: ORDER_BATCH_MAX + 1 }, () => order()) });
    expect(tooMany.statusCode).toBe(413);
    expect(tooMany.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_BATCH_TOO_LARGE');
    for (const bad of [{ orders: [] }, { orders: 'x' }, [order()], { orders: [order()], extra: true }]) {
      const res = await postBatch(bad);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_BATCH');
    }
    const withKey = await postBatch({ orders: [order()] }, { 'idempotency-key': 'k1' });
    expect(withKey.statusCode).toBe(400);
    expect(withKey.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY');
    expect(await ins.ordersCount()).toBe(before);
  });

  it('records the batch size', async () => {
    const text = await t.metricsRegistry.text();
    expect(text).toMatch(/orderwire_ingest_batch_size_count\{[^}]*\} [1-9]/);
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="rejected"[^}]*reason="duplicate_in_batch"[^}]*\} 1/);
  });
});
