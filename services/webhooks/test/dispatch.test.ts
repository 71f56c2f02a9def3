/**
 * The dispatcher against a real NATS and real HTTP receivers: what is sent, how it is signed,
 * how failures are retried, and that one endpoint's trouble stays its own.
 */
import { waitFor } from '@orderwire/test-harness';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDeliveryRecord, WebhookEvent, WebhookOrderEventData } from '@orderwire/contracts';
import {
  addEndpoint,
  buildApp,
  newTestSecret,
  publishReceipt,
  readDelivery,
  readEndpoint,
  startEnv,
  startReceiver,
  verifyStandardWebhook,
  type Answer,
  type Env,
  type Receiver,
  type TestApp,
  waitValue,
} from './helpers.js';

let env: Env;
let app: TestApp | undefined;
const receivers: Receiver[] = [];
let orderCounter = 0;
const nextOrder = (): string => `o-${++orderCounter}`;

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

beforeAll(async () => {
  env = await startEnv();
});
afterEach(async () => {
  // Receivers first: a hanging one would hold the app's close for a request timeout.
  for (const r of receivers.splice(0)) await r.close();
  await app?.close();
  app = undefined;
});
afterAll(async () => {
  await env.dispose();
});

const bodyOf = (r: { body: string }): WebhookEvent<WebhookOrderEventData> => JSON.parse(r.body) as WebhookEvent<WebhookOrderEventData>;

describe('events and signatures', () => {
  it('a terminal receipt becomes a signed order.* event the receiver can verify; pending receipts and unsubscribed types send nothing', async () => {
    const r = await receiver();
    const ep = await addEndpoint(env, 't-sig', r.url, ['order.displayed', 'order.expired', 'order.dead_lettered']);
    app = await buildApp(env);
    const displayed = nextOrder();
    const expired = nextOrder();
    await publishReceipt(env, { tenant: 't-sig', orderId: displayed, displayId: 'd1', status: 'pending', seq: 1 });
    await publishReceipt(env, { tenant: 't-sig', orderId: displayed, displayId: 'd1', status: 'delivered', seq: 1, edge: 'edge-1', traceId: 'trace-abc', stream: 'ORDERS' });
    await publishReceipt(env, { tenant: 't-sig', orderId: nextOrder(), displayId: 'd1', status: 'replayed', seq: 7 }); // not subscribed
    await publishReceipt(env, { tenant: 't-sig', orderId: expired, displayId: 'd2', status: 'expired', seq: 2, reason: 'max_age' });
    await publishReceipt(env, { tenant: 'other-tenant', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 3 });

    await waitFor(() => r.received.length >= 2, { timeoutMs: 10_000 });
    // Anything else would have arrived by now too (each event is attempted at once).
    await new Promise((res) => setTimeout(res, 300));
    expect(r.received).toHaveLength(2);
    const byType = new Map(r.received.map((x) => [bodyOf(x).type, x]));
    const d = byType.get('order.displayed')!;
    expect(verifyStandardWebhook(ep.secrets[0]!.secret, d.headers, d.body)).toBe(true);
    expect(verifyStandardWebhook(newTestSecret(), d.headers, d.body)).toBe(false);
    expect(verifyStandardWebhook(ep.secrets[0]!.secret, d.headers, d.body.replace('d1', 'd9'))).toBe(false);
    expect(d.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(d.headers['content-type']).toBe('application/json');
    expect(bodyOf(d)).toMatchObject({
      type: 'order.displayed',
      data: { tenant: 't-sig', orderId: displayed, displayId: 'd1', seq: 1, edge: 'edge-1', traceId: 'trace-abc', stream: 'ORDERS' },
    });
    expect(Date.parse(bodyOf(d).timestamp)).toBeGreaterThan(0);
    const x = byType.get('order.expired')!;
    expect(verifyStandardWebhook(ep.secrets[0]!.secret, x.headers, x.body)).toBe(true);
    expect(bodyOf(x)).toMatchObject({ type: 'order.expired', data: { orderId: expired, displayId: 'd2', reason: 'max_age' } });

    const rec = await readDelivery(env, 't-sig', ep.id, d.headers['webhook-id'] as string);
    expect(rec).toMatchObject({ state: 'succeeded', attempts: [{ outcome: 'success', status: 204 }] });
  });

  it('during a secret rotation the header carries both signatures, each valid; an expired secret no longer signs', async () => {
    const r = await receiver();
    const now = Date.now();
    const current = newTestSecret();
    const previous = newTestSecret();
    const expired = newTestSecret();
    await addEndpoint(env, 't-rot', r.url, ['order.displayed'], [
      { secret: current, createdAt: new Date(now).toISOString() },
      { secret: previous, createdAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString() },
      { secret: expired, createdAt: new Date(now - 120_000).toISOString(), expiresAt: new Date(now - 1_000).toISOString() },
    ]);
    app = await buildApp(env);
    await publishReceipt(env, { tenant: 't-rot', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => r.received.length === 1, { timeoutMs: 10_000 });
    const got = r.received[0]!;
    const parts = (got.headers['webhook-signature'] as string).split(' ');
    expect(parts).toHaveLength(2);
    expect(verifyStandardWebhook(current, got.headers, got.body)).toBe(true);
    expect(verifyStandardWebhook(previous, got.headers, got.body)).toBe(true);
    expect(verifyStandardWebhook(expired, got.headers, got.body)).toBe(false);
  });
});

describe('retries', () => {
  it('after 500s the same event is retried with the same webhook-id until it succeeds', async () => {
    const r = await receiver();
    r.answer = (_req, n) => (n <= 2 ? { status: 500 } : { status: 200 });
    const ep = await addEndpoint(env, 't-500', r.url, ['order.displayed']);
    app = await buildApp(env);
    await publishReceipt(env, { tenant: 't-500', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => r.received.length === 3, { timeoutMs: 10_000 });
    const ids = new Set(r.received.map((x) => x.headers['webhook-id']));
    expect(ids.size).toBe(1);
    // Waits follow the schedule (200 ms, 400 ms, ±20 %).
    expect(r.received[1]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(150);
    expect(r.received[2]!.at - r.received[1]!.at).toBeGreaterThanOrEqual(300);
    for (const x of r.received) expect(verifyStandardWebhook(ep.secrets[0]!.secret, x.headers, x.body)).toBe(true);
    const id = [...ids][0] as string;
    await waitFor(async () => (await readDelivery(env, 't-500', ep.id, id))?.state === 'succeeded', { timeoutMs: 5_000 });
    const rec = (await readDelivery(env, 't-500', ep.id, id))!;
    expect(rec.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('a receiver that is down for a while loses nothing: every event arrives after it is back, with its original webhook-id', async () => {
    const r = await receiver();
    const ep = await addEndpoint(env, 't-down', r.url, ['order.displayed']);
    // A schedule long enough to span the outage.
    app = await buildApp(env, { WEBHOOKS_RETRY_SCHEDULE: '200ms,300ms,500ms,500ms,500ms,500ms,500ms,500ms' });
    await r.close();
    const orders = Array.from({ length: 10 }, () => nextOrder());
    for (const o of orders) await publishReceipt(env, { tenant: 't-down', orderId: o, displayId: 'd1', status: 'delivered', seq: 1 });
    // Deliveries record failed attempts while the receiver is gone; then the endpoint's breaker
    // opens and they wait without spending their retries (one trial per breaker reset).
    await waitFor(
      async () => {
        const keys: string[] = [];
        for await (const k of await env.deliveriesKv.keys(`d.t-down.${ep.id}.*`)) keys.push(k);
        if (keys.length < orders.length) return false;
        const recs = await Promise.all(keys.map(async (k) => (await env.deliveriesKv.get(k))!.json<WebhookDeliveryRecord>()));
        const failed = recs.filter((x) => x.attempts.length >= 1);
        return recs.every((x) => x.state === 'pending' && x.attempts.every((a) => a.outcome === 'network_error')) && failed.length >= 5;
      },
      { timeoutMs: 10_000 },
    );
    await new Promise((res) => setTimeout(res, 500));
    expect(r.received).toHaveLength(0);
    await r.listen();
    await waitFor(() => new Set(r.received.map((x) => bodyOf(x).data.orderId)).size === orders.length, { timeoutMs: 15_000 });
    expect(new Set(r.received.map((x) => bodyOf(x).data.orderId))).toEqual(new Set(orders));
    // Each event kept its id: one id per order.
    const idsPerOrder = new Map<string, Set<string>>();
    for (const x of r.received) {
      const o = bodyOf(x).data.orderId;
      idsPerOrder.set(o, (idsPerOrder.get(o) ?? new Set()).add(x.headers['webhook-id'] as string));
    }
    for (const s of idsPerOrder.values()) expect(s.size).toBe(1);
  });

  it('Retry-After lengthens the wait; a redirect is a failure and is not followed', async () => {
    const r = await receiver();
    r.answer = (_req, n): Answer => (n === 1 ? { status: 503, headers: { 'retry-after': '2' } } : n === 2 ? { status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } } : { status: 200 });
    const ep = await addEndpoint(env, 't-ra', r.url, ['order.displayed']);
    app = await buildApp(env);
    await publishReceipt(env, { tenant: 't-ra', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => r.received.length === 3, { timeoutMs: 10_000 });
    expect(r.received[1]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(1_900);
    const rec = await waitValue(async (): Promise<WebhookDeliveryRecord | undefined> => {
      const d = await readDelivery(env, 't-ra', ep.id, r.received[0]!.headers['webhook-id'] as string);
      return d?.state === 'succeeded' ? d : undefined;
    });
    expect(rec.attempts.map((a) => a.outcome)).toEqual(['http_error', 'redirect', 'success']);
  });

  it('when the schedule is used up the delivery fails as exhausted', async () => {
    const r = await receiver();
    r.answer = () => ({ status: 500 });
    const ep = await addEndpoint(env, 't-ex', r.url, ['order.displayed']);
    app = await buildApp(env, { WEBHOOKS_RETRY_SCHEDULE: '100ms', WEBHOOKS_BREAKER_VOLUME_THRESHOLD: '100' });
    await publishReceipt(env, { tenant: 't-ex', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => r.received.length === 2, { timeoutMs: 10_000 });
    const rec = await waitValue(async (): Promise<WebhookDeliveryRecord | undefined> => {
      const d = await readDelivery(env, 't-ex', ep.id, r.received[0]!.headers['webhook-id'] as string);
      return d?.state === 'failed' ? d : undefined;
    });
    expect(rec).toMatchObject({ failedReason: 'exhausted' });
    expect(rec.attempts).toHaveLength(2);
    // Failing, but not yet for WEBHOOKS_DISABLE_AFTER: still enabled, the run of failures recorded.
    const e = await readEndpoint(env, 't-ex', ep.id);
    expect(e).toMatchObject({ enabled: true });
    expect(e?.failingSince).toBeDefined();
  });
});

describe('endpoint state', () => {
  it('410 Gone disables the endpoint with the reason recorded; later events are not sent to it', async () => {
    const r = await receiver();
    r.answer = () => ({ status: 410 });
    const ep = await addEndpoint(env, 't-410', r.url, ['order.displayed']);
    app = await buildApp(env);
    await publishReceipt(env, { tenant: 't-410', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(async () => (await readEndpoint(env, 't-410', ep.id))?.enabled === false, { timeoutMs: 10_000 });
    expect(await readEndpoint(env, 't-410', ep.id)).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const rec = await readDelivery(env, 't-410', ep.id, r.received[0]!.headers['webhook-id'] as string);
    expect(rec).toMatchObject({ state: 'failed', failedReason: 'endpoint_gone' });
    await waitFor(() => app!.endpoints.get('t-410', ep.id)?.enabled === false);
    await publishReceipt(env, { tenant: 't-410', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 2 });
    await new Promise((res) => setTimeout(res, 500));
    expect(r.received).toHaveLength(1);
  });

  it('an endpoint failing longer than WEBHOOKS_DISABLE_AFTER is disabled as failing', async () => {
    const r = await receiver();
    r.answer = () => ({ status: 500 });
    const ep = await addEndpoint(env, 't-fail', r.url, ['order.displayed']);
    app = await buildApp(env, { WEBHOOKS_DISABLE_AFTER: '1s', WEBHOOKS_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms', WEBHOOKS_BREAKER_VOLUME_THRESHOLD: '100' });
    await publishReceipt(env, { tenant: 't-fail', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(async () => (await readEndpoint(env, 't-fail', ep.id))?.enabled === false, { timeoutMs: 10_000 });
    expect(await readEndpoint(env, 't-fail', ep.id)).toMatchObject({ enabled: false, disabledReason: 'failing' });
    expect(r.received.length).toBeGreaterThanOrEqual(3);
  });
});

describe('isolation', () => {
  it('a dead endpoint (never answers) does not delay another endpoint’s events', async () => {
    const dead = await receiver();
    dead.answer = () => 'hang';
    const live = await receiver();
    await addEndpoint(env, 't-iso-a', dead.url, ['order.displayed']);
    await addEndpoint(env, 't-iso-b', live.url, ['order.displayed']);
    // Global slots are few on purpose: the dead endpoint may hold at most its own share.
    app = await buildApp(env, { WEBHOOKS_CONCURRENCY: '4', WEBHOOKS_ENDPOINT_CONCURRENCY: '2', WEBHOOKS_REQUEST_TIMEOUT: '10s' });
    for (let i = 0; i < 20; i++) await publishReceipt(env, { tenant: 't-iso-a', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => dead.received.length >= 2, { timeoutMs: 5_000 });
    const start = Date.now();
    for (let i = 0; i < 20; i++) await publishReceipt(env, { tenant: 't-iso-b', orderId: nextOrder(), displayId: 'd1', status: 'delivered', seq: 1 });
    await waitFor(() => live.received.length === 20, { timeoutMs: 5_000 });
    // Far less than one request timeout of the dead endpoint (10 s).
    expect(Date.now() - start).toBeLessThan(3_000);
    expect(dead.received.length).toBeLessThanOrEqual(2);
  });
});
