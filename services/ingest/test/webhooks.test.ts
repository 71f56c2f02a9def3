/**
 * Webhook endpoint management on ingest (`webhooks:manage`): validation with ingest's codes,
 * the secret shown once, rotation, deliveries and manual retry, the per-tenant quota — and
 * isolation: every route answers another tenant's endpoint exactly like an unknown one (404).
 */
import { Kvm, type KV } from '@nats-io/kv';
import { webhookDeliveryKey, webhookEndpointKey, type WebhookDeliveryRecord, type WebhookEndpointRecord } from '@orderwire/contracts';
import { KV_BUCKETS } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, startJwks, type Jwks, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let jwks: Jwks;
let t: TestApp;
let endpointsKv: KV;
let deliveriesKv: KV;
let mine: string;
let theirs: string;
let ordersOnly: string;
let quotaTenant: string;

const URL_OK = 'https://hooks.example.com/orderwire';

beforeAll(async () => {
  [nats, jwks] = await Promise.all([startNats(), startJwks()]);
  t = await buildTestApp({ natsUrl: nats.url, jwksUrl: jwks.url, env: { WEBHOOKS_MAX_ENDPOINTS: '10', WEBHOOKS_SECRET_GRACE: '1h' } });
  const kvm = new Kvm(t.nc);
  endpointsKv = await kvm.open(KV_BUCKETS.WEBHOOKS);
  deliveriesKv = await kvm.open(KV_BUCKETS.WEBHOOK_DELIVERIES);
  mine = await jwks.sign({ tenant: 'w1', scopes: ['webhooks:manage'] });
  theirs = await jwks.sign({ tenant: 'w2', scopes: ['webhooks:manage', 'orders:write', 'orders:read'] });
  ordersOnly = await jwks.sign({ tenant: 'w1', scopes: ['orders:write', 'orders:read'] });
  quotaTenant = await jwks.sign({ tenant: 'w-quota', scopes: ['webhooks:manage'] });
});

afterAll(async () => {
  await t?.dispose();
  await Promise.all([nats?.dispose(), jwks?.close()]);
});

async function create(token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/webhooks', headers: bearer(token), payload: body as Record<string, unknown> });
  return { status: res.statusCode, json: res.json() };
}

describe('create and read', () => {
  it('POST answers 201 with the id and a whsec_ secret shown once; GET never shows a secret', async () => {
    const { status, json } = await create(mine, { url: URL_OK, events: ['order.displayed', 'order.expired'], description: 'POS' });
    expect(status).toBe(201);
    expect(json).toMatchObject({ url: URL_OK, events: ['order.displayed', 'order.expired'], description: 'POS', enabled: true });
    expect(json.id).toMatch(/^ep_[0-9a-f]{24}$/);
    expect(json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from((json.secret as string).slice(6), 'base64')).toHaveLength(32);
    const one = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${json.id as string}`, headers: bearer(mine) });
    expect(one.statusCode).toBe(200);
    expect(one.body).not.toContain('whsec_');
    const list = await t.app.inject({ method: 'GET', url: '/v1/webhooks', headers: bearer(mine) });
    expect(list.json<{ endpoints: { id: string }[] }>().endpoints.map((e) => e.id)).toContain(json.id);
    expect(list.body).not.toContain('whsec_');
    const stored = (await endpointsKv.get(webhookEndpointKey('w1', json.id as string)))!.json<WebhookEndpointRecord>();
    expect(stored.secrets[0]!.secret).toBe(json.secret);
  });

  it.each([
    [{ url: 'http://hooks.example.com/x', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /must use https/],
    [{ url: 'https://127.0.0.1/x', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /loopback/],
    [{ url: 'https://169.254.169.254/latest', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /metadata/],
    [{ url: 'https://[fd00:ec2::254]/', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /ULA/],
    [{ url: 'https://u:p@hooks.example.com/', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /credentials/],
    [{ url: 'nope', events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED', /absolute URL/],
    [{ url: URL_OK, events: [] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', /non-empty/],
    [{ url: URL_OK, events: ['order.eaten'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', /events\[0\] must be one of/],
    [{ url: URL_OK, events: ['order.displayed'], secret: 'mine' }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', /unknown property "secret"/],
    [{ url: URL_OK, events: ['order.displayed'], description: 'x'.repeat(300) }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', /description/],
    [{ events: ['order.displayed'] }, 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID', /url must be a string/],
  ])('refuses %j with %s', async (body, code, message) => {
    const { status, json } = await create(mine, body);
    expect(status).toBe(400);
    const err = (json as { error: { code: string; message: string } }).error;
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  it('needs webhooks:manage (403) and a token (401)', async () => {
    expect((await create(ordersOnly, { url: URL_OK, events: ['order.displayed'] })).status).toBe(403);
    const res = await t.app.inject({ method: 'GET', url: '/v1/webhooks' });
    expect(res.statusCode).toBe(401);
  });

  it('a tenant has at most WEBHOOKS_MAX_ENDPOINTS endpoints (409)', async () => {
    for (let i = 0; i < 10; i++) expect((await create(quotaTenant, { url: URL_OK, events: ['order.displayed'] })).status).toBe(201);
    const over = await create(quotaTenant, { url: URL_OK, events: ['order.displayed'] });
    expect(over.status).toBe(409);
    expect(over.json).toMatchObject({ error: { code: 'ORDERWIRE_ERR_INGEST_WEBHOOK_QUOTA_EXCEEDED', details: { max: 10 } } });
  });
});

describe('change, rotate, delete', () => {
  it('PATCH changes events and enabled, and checks a new url like a new endpoint', async () => {
    const { json } = await create(mine, { url: URL_OK, events: ['order.displayed'] });
    const id = json.id as string;
    const patch = (body: unknown) => t.app.inject({ method: 'PATCH', url: `/v1/webhooks/${id}`, headers: bearer(mine), payload: body as Record<string, unknown> });
    const off = await patch({ enabled: false, events: ['order.dead_lettered', 'display.offline'] });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ enabled: false, disabledReason: 'manual', events: ['order.dead_lettered', 'display.offline'] });
    const on = await patch({ enabled: true });
    expect(on.json()).toMatchObject({ enabled: true });
    expect(on.json()).not.toHaveProperty('disabledReason');
    const bad = await patch({ url: 'https://10.0.0.5/hook' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED' } });
    expect((await patch({})).json()).toMatchObject({ error: { code: 'ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID' } });
    expect((await patch({ enabled: 'yes' })).statusCode).toBe(400);
    const moved = await patch({ url: 'https://other.example.com/h' });
    expect(moved.json()).toMatchObject({ url: 'https://other.example.com/h' });
  });

  it('rotate-secret returns a new secret; the previous one keeps signing until the grace period ends', async () => {
    const { json } = await create(mine, { url: URL_OK, events: ['order.displayed'] });
    const id = json.id as string;
    const before = Date.now();
    const res = await t.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/rotate-secret`, headers: bearer(mine) });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ id: string; secret: string; previousSecretExpiresAt: string }>();
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.secret).not.toBe(json.secret);
    const expires = Date.parse(body.previousSecretExpiresAt);
    expect(expires - before).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(expires - before).toBeLessThanOrEqual(3_600_000 + 5_000);
    const stored = (await endpointsKv.get(webhookEndpointKey('w1', id)))!.json<WebhookEndpointRecord>();
    expect(stored.secrets.map((s) => s.secret)).toEqual([body.secret, json.secret]);
    expect(stored.secrets[0]!.expiresAt).toBeUndefined();
  });

  it('DELETE answers 204, then 404', async () => {
    const { json } = await create(mine, { url: URL_OK, events: ['order.displayed'] });
    const del = () => t.app.inject({ method: 'DELETE', url: `/v1/webhooks/${json.id as string}`, headers: bearer(mine) });
    expect((await del()).statusCode).toBe(204);
    expect((await del()).statusCode).toBe(404);
  });
});

describe('deliveries', () => {
  it('lists attempts, status codes and the next retry, newest first; a retry sets it due now', async () => {
    const { json } = await create(mine, { url: URL_OK, events: ['order.displayed'] });
    const id = json.id as string;
    const rec = (n: number, state: WebhookDeliveryRecord['state']): WebhookDeliveryRecord => ({
      v: 1,
      id: `msg_${n.toString(16).padStart(32, '0')}`,
      tenant: 'w1',
      endpointId: id,
      type: 'order.displayed',
      body: JSON.stringify({ type: 'order.displayed', timestamp: new Date().toISOString(), data: { n } }),
      createdAt: new Date(Date.now() - 10_000 + n).toISOString(),
      state,
      nextAttemptAt: Date.now() + 60_000,
      attempts: [{ at: new Date().toISOString(), outcome: 'http_error', status: 500, durationMs: 12 }],
      ...(state === 'failed' ? { failedReason: 'exhausted' } : {}),
    });
    for (const [n, s] of [[1, 'failed'], [2, 'pending'], [3, 'succeeded']] as const) {
      await deliveriesKv.put(webhookDeliveryKey('w1', id, rec(n, s).id), JSON.stringify(rec(n, s)));
    }
    const list = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}/deliveries`, headers: bearer(mine) });
    expect(list.statusCode).toBe(200);
    const ds = list.json<{ deliveries: Record<string, unknown>[] }>().deliveries;
    expect(ds.map((d) => d.state)).toEqual(['succeeded', 'pending', 'failed']);
    expect(ds[1]).toMatchObject({ attempts: [{ status: 500, outcome: 'http_error' }], payload: { type: 'order.displayed', data: { n: 2 } } });
    expect(typeof ds[1]!.nextAttemptAt).toBe('string');
    const failedOnly = await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}/deliveries?state=failed&limit=5`, headers: bearer(mine) });
    expect(failedOnly.json<{ deliveries: { failedReason: string }[] }>().deliveries).toMatchObject([{ failedReason: 'exhausted' }]);
    expect((await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}/deliveries?limit=0`, headers: bearer(mine) })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}/deliveries?state=lost`, headers: bearer(mine) })).statusCode).toBe(400);

    const before = Date.now();
    const retry = await t.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/deliveries/${rec(1, 'failed').id}/retry`, headers: bearer(mine) });
    expect(retry.statusCode).toBe(202);
    const stored = (await deliveriesKv.get(webhookDeliveryKey('w1', id, rec(1, 'failed').id)))!.json<WebhookDeliveryRecord>();
    expect(stored.state).toBe('pending');
    expect(stored.failedReason).toBeUndefined();
    expect(stored.nextAttemptAt).toBeGreaterThanOrEqual(before);
    expect(stored.attempts).toHaveLength(1);
    const unknown = await t.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/deliveries/msg_${'f'.repeat(32)}/retry`, headers: bearer(mine) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_NOT_FOUND' } });
  });
});

describe('tenant isolation', () => {
  it('every route answers another tenant’s endpoint with 404, exactly like an unknown id, and changes nothing', async () => {
    const { json } = await create(mine, { url: URL_OK, events: ['order.displayed'] });
    const id = json.id as string;
    const msg = `msg_${'a'.repeat(32)}`;
    await deliveriesKv.put(
      webhookDeliveryKey('w1', id, msg),
      JSON.stringify({ v: 1, id: msg, tenant: 'w1', endpointId: id, type: 'order.displayed', body: '{}', createdAt: new Date().toISOString(), state: 'failed', nextAttemptAt: 0, attempts: [] }),
    );
    const unknown = `ep_${'0'.repeat(24)}`;
    const routes = (ep: string) =>
      [
        { method: 'GET', url: `/v1/webhooks/${ep}` },
        { method: 'PATCH', url: `/v1/webhooks/${ep}`, payload: { enabled: false } },
        { method: 'DELETE', url: `/v1/webhooks/${ep}` },
        { method: 'POST', url: `/v1/webhooks/${ep}/rotate-secret` },
        { method: 'GET', url: `/v1/webhooks/${ep}/deliveries` },
        { method: 'POST', url: `/v1/webhooks/${ep}/deliveries/${msg}/retry` },
      ] as const;
    for (const [r, u] of routes(id).map((r, i) => [r, routes(unknown)[i]!] as const)) {
      const other = await t.app.inject({ ...r, headers: bearer(theirs) });
      const none = await t.app.inject({ ...u, headers: bearer(theirs) });
      expect(other.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(other.json<{ error: { code: string } }>().error.code).toBe(none.json<{ error: { code: string } }>().error.code);
    }
    const list = await t.app.inject({ method: 'GET', url: '/v1/webhooks', headers: bearer(theirs) });
    expect(list.json<{ endpoints: { id: string }[] }>().endpoints.map((e) => e.id)).not.toContain(id);
    // Untouched: still enabled, one secret, the delivery still failed.
    const stored = (await endpointsKv.get(webhookEndpointKey('w1', id)))!.json<WebhookEndpointRecord>();
    expect(stored).toMatchObject({ enabled: true });
    expect(stored.secrets).toHaveLength(1);
    expect((await deliveriesKv.get(webhookDeliveryKey('w1', id, msg)))!.json<WebhookDeliveryRecord>().state).toBe('failed');
    expect((await t.app.inject({ method: 'GET', url: `/v1/webhooks/${id}`, headers: bearer(mine) })).statusCode).toBe(200);
  });
});
