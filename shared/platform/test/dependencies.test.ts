import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, waitFor, type NatsServerHandle } from '@orderwire/test-harness';
import pino from 'pino';
import { closeNats, connectNats, createMetrics, trackNatsConnection, trackRedisConnection, type NatsConnection } from '../src/index.js';

const logger = pino({ level: 'silent' });

async function gaugeValue(text: Promise<string>, name: string): Promise<number | undefined> {
  const line = (await text).split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('dependency connection gauges', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectNats({ servers: nats.url, name: 'gauge-test', logger, reconnectTimeWaitMs: 100, reconnectJitterMs: 0 });
  });

  afterAll(async () => {
    await closeNats(nc, logger);
    await nats.dispose();
  });

  it('orderwire_nats_connected follows the real connection through a server kill and restart', async () => {
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    trackNatsConnection(metrics, nc);
    expect(await gaugeValue(metrics.text(), 'orderwire_nats_connected')).toBe(1);
    await nats.kill();
    await waitFor(async () => (await gaugeValue(metrics.text(), 'orderwire_nats_connected')) === 0, { timeoutMs: 10_000 });
    await nats.restart();
    await waitFor(async () => (await gaugeValue(metrics.text(), 'orderwire_nats_connected')) === 1, { timeoutMs: 15_000 });
  });

  it('orderwire_redis_connected is 1 only when the client is ready', async () => {
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const client = { status: 'connecting' };
    trackRedisConnection(metrics, client);
    expect(await gaugeValue(metrics.text(), 'orderwire_redis_connected')).toBe(0);
    client.status = 'ready';
    expect(await gaugeValue(metrics.text(), 'orderwire_redis_connected')).toBe(1);
    client.status = 'reconnecting';
    expect(await gaugeValue(metrics.text(), 'orderwire_redis_connected')).toBe(0);
  });
});
