/**
 * POST /v1/orders against real NATS and Redis (in-process with app.inject()).
 */
import { listOrderStreams, orderStreamFor } from '@orderwire/platform';
import { HEADERS, displaySubject, stationSubject, validateOrderEnvelope } from '@orderwire/contracts';
import { startNats, startRedis, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderAcceptedSchema, ErrorSchema } from '../src/schemas.js';
import { bearer, buildTestApp, inspector, order, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let t: TestApp;
let ins: Awaited<ReturnType<typeof inspector>>;
let writer: string;
let writerT2: string;
let readerOnly: string;

const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT = '00f067aa0ba902b7';

beforeAll(async () => {
  [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwks()]);
  // Room for the "enveloped order too large for the stream" case below.
  t = await buildTestApp({ natsUrl: nats.url, redisUrl: redis.url, jwksUrl: jwks.url, env: { INGEST_BODY_LIMIT: String(512 * 1024) } });
  ins = await inspector(nats.url);
  writer = await jwks.sign({ tenant: 't1', scopes: ['orders:write', 'orders:read'] });
  writerT2 = await jwks.sign({ tenant: 't2', scopes: ['orders:write'] });
  readerOnly = await jwks.sign({ tenant: 't1', scopes: ['orders:read'] });
});

afterAll(async () => {
  await t?.dispose();
  await ins?.close();
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

function post(body: unknown, headers: Record<string, string> = {}, token = writer) {
  return t.app.inject({ method: 'POST', url: '/v1/orders', headers: { ...bearer(token), ...headers }, payload: body as object });
}

describe('POST /v1/orders', () => {
  it('answers 202 after the PubAck, with the message on the station subject carrying headers and envelope', async () => {
    const before = await ins.ordersCount();
    const o = order();
    const res = await post(o, { traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01` });
    expect(res.statusCode).toBe(202);
    const body = res.json<{ orderId: string; duplicate: boolean; stream: string; seq: number; acceptedAt: number; traceId: string }>();
    expect(Value.Check(OrderAcceptedSchema, body)).toBe(true);
    expect(body).toMatchObject({ orderId: o.orderId, duplicate: false, traceId: INCOMING_TRACE });
    expect(Math.abs(body.acceptedAt - Date.now())).toBeLessThan(10_000);
    expect(await ins.ordersCount()).toBe(before + 1);

    // The answer names the stream of its sequence: the store's partition stream.
    expect(body.stream).toBe(await orderStreamFor(ins.jsm, 't1', 'store-1'));
    const msg = await ins.jsm.streams.getMessage(body.stream, { seq: body.seq });
    expect(msg?.subject).toBe(stationSubject('t1', 'store-1', 'grill'));
    const h = msg!.header;
    expect(h.get(HEADERS.msgId)).toBe(`t1:${String(o.orderId)}`);
    expect(h.get(HEADERS.orderId)).toBe(o.orderId);
    expect(h.get(HEADERS.tenant)).toBe('t1');
    expect(h.get(HEADERS.acceptedAt)).toBe(String(body.acceptedAt));
    expect(h.get(HEADERS.traceId)).toBe(INCOMING_TRACE);
    const tp = h.get(HEADERS.traceparent);
    expect(tp).toMatch(new RegExp(`^00-${INCOMING_TRACE}-[0-9a-f]{16}-01$`));
    expect(tp).not.toContain(INCOMING_PARENT);

    const env = validateOrderEnvelope(msg!.json());
    expect(env.ok).toBe(true);
    if (!env.ok) return;
    expect(env.value).toMatchObject({ v: 1, tenant: 't1', acceptedAt: body.acceptedAt, traceId: INCOMING_TRACE });
    // Defaults applied: what consumers read is the validated order.
    expect(env.value.order).toEqual({ ...o, priority: 'normal', metadata: {} });
  });

  it('starts a new trace when traceparent is absent or invalid', async () => {
    const cases: Array<Record<string, string>> = [{}, { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, { traceparent: 'garbage' }];
    for (const headers of cases) {
      const res = await post(order(), headers);
      expect(res.statusCode).toBe(202);
      const { traceId, seq, stream } = res.json<{ traceId: string; seq: number; stream: string }>();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toBe('0'.repeat(32));
      const msg = await ins.jsm.streams.getMessage(stream, { seq });
      expect(msg!.header.get(HEADERS.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
  });

  it('answers a repeat with duplicate: true and the first answer, publishing nothing new', async () => {
    const o = order();
    const first = await post(o);
    expect(first.statusCode).toBe(202);
    const before = await ins.ordersCount();
    const again = await post(o);
    expect(again.statusCode).toBe(202);
    const a = first.json<Record<string, unknown>>();
    const b = again.json<Record<string, unknown>>();
    expect(b).toEqual({ ...a, duplicate: true });
    expect(await ins.ordersCount()).toBe(before);
  });

  it('uses the Idempotency-Key header, prefixed by the tenant so tenants cannot collide', async () => {
    const key = `key-${Date.now()}`;
    const o1 = order();
    const r1 = await post(o1, { 'idempotency-key': key });
    expect(r1.statusCode).toBe(202);
    const m1 = await ins.jsm.streams.getMessage(r1.json<{ stream: string }>().stream, { seq: r1.json<{ seq: number }>().seq });
    expect(m1!.header.get(HEADERS.msgId)).toBe(`t1:${key}`);

    // Same key, same order, other tenant: a different message.
    const r2 = await post(o1, { 'idempotency-key': key }, writerT2);
    expect(r2.statusCode).toBe(202);
    expect(r2.json<{ duplicate: boolean }>().duplicate).toBe(false);
    const m2 = await ins.jsm.streams.getMessage(r2.json<{ stream: string }>().stream, { seq: r2.json<{ seq: number }>().seq });
    expect(m2!.subject).toBe(stationSubject('t2', 'store-1', 'grill'));
    expect(m2!.header.get(HEADERS.msgId)).toBe(`t2:${key}`);
  });

  it('refuses the same key with a different body: 409, nothing published', async () => {
    const o = order();
    expect((await post(o)).statusCode).toBe(202);
    const before = await ins.ordersCount();
    const res = await post({ ...o, items: [{ name: 'Fries', qty: 1 }] });
    expect(res.statusCode).toBe(409);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT');
    expect(await ins.ordersCount()).toBe(before);
    // Key order and omitted defaults do not make a different body.
    const same = await post({ priority: 'normal', ...Object.fromEntries(Object.entries(o).reverse()) });
    expect(same.statusCode).toBe(202);
    expect(same.json<{ duplicate: boolean }>().duplicate).toBe(true);
  });

  const badInputs: Array<[string, () => Record<string, unknown>, Record<string, string>, number, string, string?]> = [
    ['missing items', () => ({ ...order(), items: undefined }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['qty 0', () => order({ items: [{ name: 'x', qty: 0 }] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['unknown property', () => order({ extra: 1 }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['bad createdAt', () => order({ createdAt: '2024-02-30T00:00:00Z' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['tenant in body', () => order({ tenant: 't2' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['storeId a.b', () => order({ storeId: 'a.b' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'storeId'],
    ['storeId *', () => order({ storeId: '*' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'storeId'],
    ['storeId >', () => order({ storeId: '>' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'storeId'],
    ['station a b', () => order({ station: 'a b' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'station'],
    ['station NUL', () => order({ station: 'grill\u0000' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'station'],
    ['station tab', () => order({ station: 'gr\till' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'station'],
    ['station 65 chars', () => order({ station: 'a'.repeat(65) }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'station'],
    ['station empty', () => order({ station: '' }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'station'],
    ['displayIds a.b', () => order({ displayIds: ['d1', 'a.b'] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'displayIds[1]'],
    ['displayIds >', () => order({ displayIds: ['>'] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'displayIds[0]'],
    ['displayIds *', () => order({ displayIds: ['*'] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'displayIds[0]'],
    ['displayIds 65 chars', () => order({ displayIds: ['d'.repeat(65)] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ID', 'displayIds[0]'],
    ['displayIds repeated', () => order({ displayIds: ['d1', 'd1'] }), {}, 400, 'ORDERWIRE_ERR_INGEST_INVALID_ORDER'],
    ['Idempotency-Key with space', () => order(), { 'idempotency-key': 'a b' }, 400, 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY'],
    ['Idempotency-Key 129 chars', () => order(), { 'idempotency-key': 'k'.repeat(129) }, 400, 'ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY'],
  ];

  it.each(badInputs)('rejects %s with its code and publishes nothing', async (_name, make, headers, status, code, field) => {
    const before = await ins.ordersCount();
    const res = await post(make(), headers);
    expect(res.statusCode).toBe(status);
    const body = res.json<{ error: { code: string; details?: { field?: string } } }>();
    expect(Value.Check(ErrorSchema, body)).toBe(true);
    expect(body.error.code).toBe(code);
    if (field !== undefined) expect(body.error.details?.field).toBe(field);
    expect(await ins.ordersCount()).toBe(before);
  });

  it('never takes the tenant from the body: nothing reaches another tenant’s subjects', async () => {
    const res = await post(order({ tenant: 'evil' }));
    expect(res.statusCode).toBe(400);
    for (const name of await listOrderStreams(ins.jsm)) {
      const info = await ins.jsm.streams.info(name, { subjects_filter: 'orders.*.evil.>' });
      expect(Object.keys(info.state.subjects ?? {})).toHaveLength(0);
    }
  });

  it('requires a valid token with orders:write (401/403), publishing nothing', async () => {
    const before = await ins.ordersCount();
    const none = await t.app.inject({ method: 'POST', url: '/v1/orders', payload: order() });
    expect(none.statusCode).toBe(401);
    expect(none.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_TOKEN_MISSING');
    const garbage = await post(order(), {}, 'not-a-jwt');
    expect(garbage.statusCode).toBe(401);
    const expired = await post(order(), {}, await jwks.sign({ tenant: 't1', scopes: ['orders:write'], ttlSec: -60 }));
    expect(expired.statusCode).toBe(401);
    expect(expired.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_TOKEN_EXPIRED');
    const readOnly = await post(order(), {}, readerOnly);
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE');
    // Authentication runs before validation: an anonymous bad body is still a 401.
    const anonBad = await t.app.inject({ method: 'POST', url: '/v1/orders', payload: { nonsense: true } });
    expect(anonBad.statusCode).toBe(401);
    expect(await ins.ordersCount()).toBe(before);
  });

  it('refuses malformed JSON (400) and other content types (415) in the error shape, publishing nothing', async () => {
    const before = await ins.ordersCount();
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/v1/orders',
      headers: { ...bearer(writer), 'content-type': 'application/json' },
      payload: '{"orderId": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_BAD_REQUEST');
    const text = await t.app.inject({
      method: 'POST',
      url: '/v1/orders',
      headers: { ...bearer(writer), 'content-type': 'application/xml' },
      payload: '<order/>',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_UNSUPPORTED_MEDIA_TYPE');
    expect(await ins.ordersCount()).toBe(before);
  });

  it('refuses a body over INGEST_BODY_LIMIT with 413 naming the limit, publishing nothing', async () => {
    const before = await ins.ordersCount();
    const res = await post(order({ metadata: { big: 'x'.repeat(200) }, items: [{ name: 'x', qty: 1, notes: 'n'.repeat(600 * 1024) }] }));
    expect(res.statusCode).toBe(413);
    const body = res.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe('ORDERWIRE_ERR_PAYLOAD_TOO_LARGE');
    expect(body.error.message).toContain(String(512 * 1024));
    expect(await ins.ordersCount()).toBe(before);
  });

  it('refuses a valid order whose message would exceed the stream limit (413), publishing nothing', async () => {
    const before = await ins.ordersCount();
    // 150 items × (20 modifiers × 100 chars + 500 chars of notes) ≈ 380 KB: under the body limit, over max_msg_size.
    const items = Array.from({ length: 150 }, (_, i) => ({
      name: `item ${i}`,
      qty: 1,
      modifiers: Array.from({ length: 20 }, () => 'm'.repeat(100)),
      notes: 'n'.repeat(500),
    }));
    const res = await post(order({ items }));
    expect(res.statusCode).toBe(413);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE');
    expect(await ins.ordersCount()).toBe(before);
  });

  it('publishes a targeted order once per display on its own subject; a repeat is a duplicate for every target', async () => {
    const before = await ins.ordersCount();
    const o = order({ displayIds: ['d-a', 'd-b', 'd-c'] });
    const res = await post(o);
    expect(res.statusCode).toBe(202);
    const body = res.json<{ seq: number; duplicate: boolean; targets: Array<{ displayId: string; stream: string; seq: number; duplicate: boolean }> }>();
    expect(Value.Check(OrderAcceptedSchema, body)).toBe(true);
    expect(body.targets.map((x) => x.displayId)).toEqual(['d-a', 'd-b', 'd-c']);
    expect(body.seq).toBe(body.targets[0]!.seq);
    expect(new Set(body.targets.map((x) => x.seq)).size).toBe(3);
    expect(await ins.ordersCount()).toBe(before + 3);
    for (const target of body.targets) {
      const msg = await ins.jsm.streams.getMessage(target.stream, { seq: target.seq });
      expect(msg!.subject).toBe(displaySubject('t1', 'store-1', target.displayId));
      expect(msg!.header.get(HEADERS.msgId)).toBe(`t1/${target.displayId}:${String(o.orderId)}`);
    }
    const again = await post(o);
    expect(again.statusCode).toBe(202);
    const b2 = again.json<typeof body>();
    expect(b2.duplicate).toBe(true);
    expect(b2.targets.map((x) => x.seq)).toEqual(body.targets.map((x) => x.seq));
    expect(b2.targets.every((x) => x.duplicate)).toBe(true);
    expect(await ins.ordersCount()).toBe(before + 3);
  });

  it('counts outcomes in orderwire_ingest_orders_total with bounded reasons', async () => {
    const text = await t.metricsRegistry.text();
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="accepted"[^}]*reason="ok"[^}]*\} \d+/);
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="duplicate"[^}]*reason="idempotent_repeat"[^}]*\} \d+/);
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="rejected"[^}]*reason="invalid_id"[^}]*\} \d+/);
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="rejected"[^}]*reason="idempotency_conflict"[^}]*\} 1/);
    expect(text).toMatch(/orderwire_ingest_orders_total\{[^}]*outcome="rejected"[^}]*reason="too_large"[^}]*\} 2/);
    expect(text).toMatch(/orderwire_ingest_publish_duration_seconds_count\{[^}]*result="ok"[^}]*\} \d+/);
    expect(text).toMatch(/orderwire_ingest_breaker_state\{[^}]*\} 0/);
  });
});
