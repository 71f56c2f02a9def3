/**
 * A dispatcher SIGKILLed in the middle of retrying — some deliveries waiting for their next
 * attempt, one request in flight — loses nothing: the process started again finds every
 * delivery in JetStream, the in-flight one once its claim has expired, and each event arrives
 * with the webhook-id it had (at-least-once: the in-flight one may arrive twice).
 */
import { waitFor, startServiceProcess, type ServiceProcessHandle } from '@orderwire/test-harness';
import type { WebhookDeliveryRecord, WebhookEvent, WebhookOrderEventData } from '@orderwire/contracts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addEndpoint, publishReceipt, startEnv, startReceiver, TEST_ENV, type Env, type Receiver } from './helpers.js';

let env: Env;
let receiver: Receiver;
let proc: ServiceProcessHandle;

beforeAll(async () => {
  env = await startEnv();
  receiver = await startReceiver();
});
afterAll(async () => {
  await proc?.dispose();
  await receiver.close();
  await env.dispose();
});

async function deliveries(tenant: string, endpointId: string): Promise<WebhookDeliveryRecord[]> {
  const keys: string[] = [];
  for await (const k of await env.deliveriesKv.keys(`d.${tenant}.${endpointId}.*`)) keys.push(k);
  return Promise.all(keys.map(async (k) => (await env.deliveriesKv.get(k))!.json<WebhookDeliveryRecord>()));
}

it('SIGKILL mid-retry: after a restart every event is delivered with its original webhook-id', async () => {
  const ep = await addEndpoint(env, 't-kill', receiver.url, ['order.displayed']);
  proc = await startServiceProcess({
    name: 'webhooks',
    main: 'services/webhooks/dist/main.js',
    env: {
      ...TEST_ENV,
      NATS_URL: env.nats.url,
      REDIS_URL: 'redis://127.0.0.1:1', // no Redis: display.* events pause, order.* are unaffected
      LOG_LEVEL: 'warn',
      INSTANCE_ID: 'webhooks-kill-test',
      WEBHOOKS_RETRY_SCHEDULE: Array.from({ length: 30 }, () => '300ms').join(','),
      WEBHOOKS_BREAKER_VOLUME_THRESHOLD: '100000',
    },
  });
  receiver.answer = () => ({ status: 500 });
  const orders = Array.from({ length: 20 }, (_, i) => `kill-${i}`);
  for (const o of orders) await publishReceipt(env, { tenant: 't-kill', orderId: o, displayId: 'd1', status: 'delivered', seq: 1 });
  // Every delivery has failed at least once: they are mid-retry.
  await waitFor(async () => {
    const ds = await deliveries('t-kill', ep.id);
    return ds.length === orders.length && ds.every((d) => d.state === 'pending' && d.attempts.length >= 1);
  }, { timeoutMs: 15_000 });
  // Now one request is held open by the receiver when the process dies.
  const seen = receiver.received.length;
  receiver.answer = () => 'hang';
  await waitFor(() => receiver.received.length > seen, { timeoutMs: 5_000 });
  await proc.kill();
  const claimed = (await deliveries('t-kill', ep.id)).filter((d) => d.claim !== undefined);
  expect(claimed.length).toBeGreaterThanOrEqual(1);

  receiver.answer = () => ({ status: 200 });
  const beforeRestart = receiver.received.length;
  await proc.start();
  await waitFor(async () => (await deliveries('t-kill', ep.id)).every((d) => d.state === 'succeeded'), { timeoutMs: 20_000 });

  const after = receiver.received.slice(beforeRestart);
  const okOrders = new Set(after.map((r) => (JSON.parse(r.body) as WebhookEvent<WebhookOrderEventData>).data.orderId));
  expect(okOrders).toEqual(new Set(orders));
  // Same id before and after the kill, per order.
  const idsByOrder = new Map<string, Set<string>>();
  for (const r of receiver.received) {
    const o = (JSON.parse(r.body) as WebhookEvent<WebhookOrderEventData>).data.orderId;
    idsByOrder.set(o, (idsByOrder.get(o) ?? new Set()).add(r.headers['webhook-id'] as string));
  }
  expect(idsByOrder.size).toBe(orders.length);
  for (const ids of idsByOrder.values()) expect(ids.size).toBe(1);
}, 60_000);
