/**
 * display.offline / display.online from the presence the edges write to Redis and the backlog
 * of the display's mailbox: reported once per absence, only with orders waiting, and the return
 * once.
 */
import {
  displayRegistryKey,
  displaySubject,
  presenceLiveKey,
  presenceSeenKey,
  type DisplayRecord,
  type WebhookDisplayEventData,
  type WebhookEvent,
} from '@orderwire/contracts';
import { displayConsumerName } from '@orderwire/contracts';
import { ensureDisplayConsumer, KV_BUCKETS } from '@orderwire/platform';
import { startRedis, waitFor, type RedisServerHandle } from '@orderwire/test-harness';
import { Kvm } from '@nats-io/kv';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addEndpoint, buildApp, startEnv, startReceiver, verifyStandardWebhook, type Env, type Receiver } from './helpers.js';

let env: Env;
let redisServer: RedisServerHandle;
let redis: Redis;
let receiver: Receiver;

beforeAll(async () => {
  env = await startEnv();
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  redis.disconnect();
  await redisServer.dispose();
  await env.dispose();
});

async function addDisplay(tenant: string, displayId: string): Promise<void> {
  await ensureDisplayConsumer(env.jsm, { tenant, store: 's1', displayId, stations: ['grill'] });
  const record: DisplayRecord = {
    v: 1,
    tenant,
    displayId,
    storeId: 's1',
    stations: ['grill'],
    consumer: displayConsumerName(tenant, displayId),
    status: 'enrolled',
    createdAt: new Date().toISOString(),
  };
  const kv = await new Kvm(env.nc).open(KV_BUCKETS.DISPLAYS);
  await kv.put(displayRegistryKey(tenant, displayId), JSON.stringify(record));
}

const events = (): WebhookEvent<WebhookDisplayEventData>[] => receiver.received.map((r) => JSON.parse(r.body) as WebhookEvent<WebhookDisplayEventData>);

it('a display gone past the threshold with a backlog is reported offline once, and its return once; one without a backlog is not', async () => {
  const tenant = 't-presence';
  const ep = await addEndpoint(env, tenant, receiver.url, ['display.offline', 'display.online']);
  await addDisplay(tenant, 'gone-with-orders');
  await addDisplay(tenant, 'gone-idle');
  await addDisplay(tenant, 'connected');
  // One order waits in the first display's mailbox.
  await env.js.publish(displaySubject(tenant, 's1', 'gone-with-orders'), JSON.stringify({ v: 1 }));
  const longAgo = Date.now() - 60_000;
  await redis.hset(presenceSeenKey(tenant), 'gone-with-orders', JSON.stringify({ at: longAgo, edge: 'edge-1' }));
  await redis.hset(presenceSeenKey(tenant), 'gone-idle', JSON.stringify({ at: longAgo, edge: 'edge-1' }));
  await redis.hset(presenceSeenKey(tenant), 'connected', JSON.stringify({ at: Date.now(), edge: 'edge-1' }));
  await redis.set(presenceLiveKey(tenant, 'connected'), JSON.stringify({ edge: 'edge-1', socketId: 'x', storeId: 's1', connectedAt: Date.now() }));

  const app = await buildApp(env, { WEBHOOKS_DISPLAY_OFFLINE_AFTER: '10s' }, redis);
  try {
    await app.presence!.sweep();
    await waitFor(() => receiver.received.length === 1, { timeoutMs: 5_000 });
    await app.presence!.sweep(); // still gone: no second report
    await new Promise((r) => setTimeout(r, 300));
    expect(events().map((e) => [e.type, e.data.displayId])).toEqual([['display.offline', 'gone-with-orders']]);
    expect(events()[0]!.data).toMatchObject({ tenant, storeId: 's1', backlog: 1, lastSeen: new Date(longAgo).toISOString() });
    expect(verifyStandardWebhook(ep.secrets[0]!.secret, receiver.received[0]!.headers, receiver.received[0]!.body)).toBe(true);

    // It comes back.
    await redis.set(presenceLiveKey(tenant, 'gone-with-orders'), JSON.stringify({ edge: 'edge-2', socketId: 'y', storeId: 's1', connectedAt: Date.now() }));
    await app.presence!.sweep();
    await waitFor(() => receiver.received.length === 2, { timeoutMs: 5_000 });
    await app.presence!.sweep();
    await new Promise((r) => setTimeout(r, 300));
    expect(events().map((e) => [e.type, e.data.displayId])).toEqual([
      ['display.offline', 'gone-with-orders'],
      ['display.online', 'gone-with-orders'],
    ]);
    expect(events()[1]!.data.offlineSeconds).toBeGreaterThanOrEqual(59);
  } finally {
    await app.close();
  }
});
