/** The rate-limit store's local fallback when Redis is not there. */
import { createLogger, createMetrics } from '@orderwire/platform';
import { describe, expect, it } from 'vitest';
import { createIngestMetrics } from '../src/metrics.js';
import { createRateLimitStore } from '../src/rate-limit-store.js';

describe('rate-limit store without Redis', () => {
  it('counts per key in windows and reports degraded', async () => {
    const metrics = createIngestMetrics(createMetrics({ service: 'ingest', defaultMetrics: false }));
    const { Store, degraded } = createRateLimitStore({ redis: undefined, keyPrefix: 'x:', logger: createLogger({ service: 'ingest', version: 't', level: 'silent' }), metrics });
    const store = new Store({});
    const incr = (key: string, windowMs: number) =>
      new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr(key, (err, res) => (err !== null || res === undefined ? reject(err ?? new Error('no result')) : resolve(res)), windowMs, 10),
      );
    expect((await incr('a', 1000)).current).toBe(1);
    expect((await incr('a', 1000)).current).toBe(2);
    expect((await incr('b', 1000)).current).toBe(1);
    expect(degraded()).toBe(true);
    const first = await incr('c', 30);
    expect(first.ttl).toBeLessThanOrEqual(30);
    await new Promise((r) => setTimeout(r, 40));
    expect((await incr('c', 30)).current).toBe(1); // new window
  });
});
