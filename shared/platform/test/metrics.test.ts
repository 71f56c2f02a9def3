import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { OrderwireError } from '../src/errors.js';
import { createMetrics, HEAP_LIVE_METRIC } from '../src/metrics.js';

/** A full GC on demand, without starting the test process with --expose-gc. */
function majorGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function heapLiveMB(m: ReturnType<typeof createMetrics>): Promise<number> {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`${HEAP_LIVE_METRIC}{`));
  return Number(line?.split(' ')[1]) / 2 ** 20;
}

describe('createMetrics', () => {
  it('refuses names without the orderwire_ prefix or not in snake case', () => {
    const m = createMetrics({ service: 'ingest', defaultMetrics: false });
    for (const name of ['orders_total', 'orderwireorders_total', 'orderwire_Orders_total', 'orderwire_orders-total']) {
      let caught: unknown;
      try {
        m.counter({ name, help: 'x' });
      } catch (err) {
        caught = err;
      }
      expect(caught, name).toBeInstanceOf(OrderwireError);
      expect((caught as OrderwireError).code).toBe('ORDERWIRE_ERR_METRIC_NAME');
    }
    expect(() => m.gauge({ name: 'connections', help: 'x' })).toThrow(/must start with orderwire_/);
    expect(() => m.histogram({ name: 'latency_seconds', help: 'x' })).toThrow(/must start with orderwire_/);
  });

  it('exposes registered metrics with the service default label in text format', async () => {
    const m = createMetrics({ service: 'ingest', defaultMetrics: false });
    const accepted = m.counter({ name: 'orderwire_orders_accepted_total', help: 'Orders accepted', labelNames: ['outcome'] as const });
    const gauge = m.gauge({ name: 'orderwire_breaker_open', help: 'Breaker state' });
    const h = m.histogram({ name: 'orderwire_publish_seconds', help: 'Publish latency', buckets: [0.001, 0.01] });
    accepted.inc({ outcome: 'new' }, 2);
    gauge.set(1);
    h.observe(0.005);
    const text = await m.text();
    expect(text).toContain('# TYPE orderwire_orders_accepted_total counter');
    expect(text).toContain('orderwire_orders_accepted_total{outcome="new",service="ingest"} 2');
    expect(text).toContain('orderwire_breaker_open{service="ingest"} 1');
    expect(text).toContain('orderwire_publish_seconds_bucket{le="0.01",service="ingest"} 1');
    expect(text).not.toContain('orderwire_node_');
    expect(m.contentType).toMatch(/^text\/plain/);
  });

  it('collects Node process metrics under orderwire_node_ by default', async () => {
    const m = createMetrics({ service: 'edge' });
    const text = await m.registry.metrics();
    expect(text).toMatch(/^orderwire_node_process_cpu_user_seconds_total\{service="edge"\} /m);
    expect(text).toContain('orderwire_node_nodejs_eventloop_lag_seconds');
    // Nothing unprefixed slips in.
    const names = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!);
    expect(names.every((n) => n.startsWith('orderwire_'))).toBe(true);
  });

  it('reports the live heap after a major GC: retained memory shows, released memory goes', async () => {
    const m = createMetrics({ service: 'heap' });
    majorGc();
    await sleep(20); // the GC observer is told asynchronously
    const base = await heapLiveMB(m);
    let kept: number[][] | undefined = Array.from({ length: 64 }, () => Array.from({ length: 100_000 }, (_, i) => i + 0.5));
    majorGc();
    await sleep(20);
    const withKept = await heapLiveMB(m);
    expect(kept.length).toBe(64);
    kept = undefined;
    majorGc();
    await sleep(20);
    const released = await heapLiveMB(m);
    // 64 arrays of 100,000 doubles are ~50 MB.
    expect(withKept - base).toBeGreaterThan(40);
    expect(withKept - released).toBeGreaterThan(40);
    expect(kept).toBeUndefined();
  });

  it('returns the already-registered metric for the same name, refuses a different type', () => {
    const m = createMetrics({ service: 'x', defaultMetrics: false });
    const a = m.counter({ name: 'orderwire_things_total', help: 'x' });
    const b = m.counter({ name: 'orderwire_things_total', help: 'x' });
    expect(b).toBe(a);
    expect(() => m.gauge({ name: 'orderwire_things_total', help: 'x' })).toThrow(/different metric type/);
  });

  it('keeps registries of two services apart', async () => {
    const a = createMetrics({ service: 'a', defaultMetrics: false });
    const b = createMetrics({ service: 'b', defaultMetrics: false });
    a.counter({ name: 'orderwire_only_in_a_total', help: 'x' }).inc();
    expect(await b.text()).not.toContain('orderwire_only_in_a_total');
  });
});
