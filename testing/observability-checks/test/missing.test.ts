import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckErrorCode, expectedMetricsFrom, missingMetrics, scrapeMetrics, type ExpectedMetrics } from '../src/index.js';
import { dashboard, registry } from './fixtures.js';

function expectedFor(exprs: string[]): ExpectedMetrics {
  return expectedMetricsFrom({ dashboards: [dashboard('t', exprs.map((e, i) => ({ title: `p${i}`, exprs: [e] })))], rules: [] });
}

describe('missingMetrics', () => {
  it('is empty when every metric is exported with series, labels and buckets the queries need', async () => {
    const edge = registry('edge');
    new Counter({ name: 'orderwire_edge_deliveries_total', help: 'd', labelNames: ['outcome'], registers: [edge] }).inc({ outcome: 'acked' });
    new Histogram({ name: 'orderwire_delivery_e2e_latency_seconds', help: 'e', buckets: [0.1, 0.25, 1], registers: [edge] }).observe(0.1);
    const expected = expectedFor([
      'sum(rate(orderwire_edge_deliveries_total{outcome="acked",instance=~"$instance",job="orderwire-edge"}[5m]))',
      'sum(rate(orderwire_delivery_e2e_latency_seconds_bucket{le="0.25"}[5m])) / sum(rate(orderwire_delivery_e2e_latency_seconds_count[5m]))',
    ]);
    expect(missingMetrics(expected, [await edge.metrics()])).toEqual([]);
  });

  it('reports an absent metric, a metric without series, and lets --allow-no-samples accept the latter', async () => {
    const dlq = registry('dlq');
    new Counter({ name: 'orderwire_dlq_entries_total', help: 'e', labelNames: ['reason'], registers: [dlq] });
    // Some series, as every real service has (process metrics), so the text names its service.
    new Gauge({ name: 'orderwire_nats_connected', help: 'n', registers: [dlq] }).set(1);
    const expected = expectedFor(['sum(rate(orderwire_dlq_entries_total[5m]))', 'max(orderwire_dlq_depth)']);
    const text = await dlq.metrics();
    const problems = missingMetrics(expected, [text]);
    expect(problems.map((p) => [p.kind, p.metric, p.service])).toEqual([
      ['absent', 'orderwire_dlq_depth', 'dlq'],
      ['no_samples', 'orderwire_dlq_entries_total', 'dlq'],
    ]);
    expect(problems[0]!.usedBy).toEqual(['t.json: p1']);
    expect(missingMetrics(expected, [text], { requireSamples: false }).map((p) => p.kind)).toEqual(['absent']);
  });

  it('reports a label the query matches on that the series lack (name drift), ignoring job and instance', async () => {
    const ingest = registry('ingest');
    new Counter({ name: 'orderwire_ingest_orders_total', help: 'o', labelNames: ['result'], registers: [ingest] }).inc({ result: 'ok' });
    const expected = expectedFor(['sum(rate(orderwire_ingest_orders_total{outcome="accepted",instance="x",job="y"}[5m]))']);
    const problems = missingMetrics(expected, [await ingest.metrics()]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'label_missing', metric: 'orderwire_ingest_orders_total', service: 'ingest' });
    expect(problems[0]!.message).toMatch(/no label "outcome" \(labels: result, service\)/);
  });

  it('reports a histogram without the bucket an SLO query reads', async () => {
    const edge = registry('edge');
    new Histogram({ name: 'orderwire_delivery_e2e_latency_seconds', help: 'e', buckets: [0.1, 0.2, 0.5], registers: [edge] }).observe(0.1);
    const problems = missingMetrics(expectedFor(['sum(rate(orderwire_delivery_e2e_latency_seconds_bucket{le="0.25"}[5m]))']), [
      await edge.metrics(),
    ]);
    expect(problems.map((p) => p.kind)).toEqual(['bucket_missing']);
    expect(problems[0]!.message).toMatch(/no bucket le="0.25" \(buckets: 0.1, 0.2, 0.5, Infinity\)/);
  });

  it('checks each service for metrics every service must export, and names a service never scraped once', async () => {
    const texts: string[] = [];
    for (const service of ['auth', 'ingest', 'edge']) {
      const r = registry(service);
      if (service !== 'edge') new Gauge({ name: 'orderwire_nats_connected', help: 'n', registers: [r] }).set(1);
      else new Gauge({ name: 'orderwire_edge_connections', help: 'c', registers: [r] }).set(0);
      texts.push(await r.metrics());
    }
    const problems = missingMetrics(expectedFor(['min by (service) (orderwire_nats_connected)']), texts);
    expect(problems.map((p) => [p.kind, p.service, p.metric])).toEqual([
      ['service_not_scraped', 'webhooks', ''],
      ['service_not_scraped', 'dlq', ''],
      ['absent', 'edge', 'orderwire_nats_connected'],
    ]);
  });

  it('is satisfied by one exporter for "any service" metrics, and merges the texts of two instances', async () => {
    const edge1 = registry('edge');
    const edge2 = registry('edge');
    new Gauge({ name: 'orderwire_redis_connected', help: 'r', registers: [edge1] });
    new Gauge({ name: 'orderwire_redis_connected', help: 'r', registers: [edge2] }).set(1);
    const auth = registry('auth');
    const expected = expectedFor(['min(orderwire_redis_connected)']);
    expect(missingMetrics(expected, [await auth.metrics(), await edge1.metrics(), await edge2.metrics()])).toEqual([]);
    const none = missingMetrics(expected, [await auth.metrics()]);
    expect(none.map((p) => [p.kind, p.service])).toEqual([['absent', '*']]);
  });

  it('attributes a text to an explicitly given service over its labels', async () => {
    const r = registry('something-else');
    new Gauge({ name: 'orderwire_dlq_depth', help: 'd', registers: [r] }).set(0);
    const expected = expectedFor(['max(orderwire_dlq_depth)']);
    expect(missingMetrics(expected, [{ text: await r.metrics(), service: 'dlq' }])).toEqual([]);
    expect(missingMetrics(expected, [await r.metrics()]).map((p) => p.kind)).toEqual(['service_not_scraped']);
  });

  it('throws a scrape error naming the source of an unparsable text', () => {
    expect(() => missingMetrics(expectedFor(['max(orderwire_dlq_depth)']), [{ text: 'bad{ 1', source: 'http://x/metrics' }])).toThrow(
      expect.objectContaining({ code: CheckErrorCode.ScrapeFailed, message: expect.stringContaining('http://x/metrics') as unknown }),
    );
  });
});

describe('scrapeMetrics', () => {
  let server: Server;
  let base: string;
  let ingest: Registry;

  beforeAll(async () => {
    ingest = registry('ingest');
    new Gauge({ name: 'orderwire_ingest_breaker_state', help: 'b', registers: [ingest] }).set(0);
    server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void ingest.metrics().then((t) => res.writeHead(200, { 'content-type': ingest.contentType }).end(t));
      } else res.writeHead(404).end('nope');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  it('fetches /metrics over HTTP and keeps the source and forced service', async () => {
    const [scraped] = await scrapeMetrics([{ url: `${base}/metrics`, service: 'ingest' }]);
    expect(scraped).toMatchObject({ source: `${base}/metrics`, service: 'ingest' });
    expect(scraped!.text).toContain('orderwire_ingest_breaker_state{service="ingest"} 0');
  });

  it('fails with the URL on an HTTP error or an unreachable port', async () => {
    await expect(scrapeMetrics([{ url: `${base}/nothing` }])).rejects.toMatchObject({
      code: CheckErrorCode.ScrapeFailed,
      message: expect.stringContaining('HTTP 404') as unknown,
    });
    await expect(scrapeMetrics([{ url: 'http://127.0.0.1:1/metrics' }], 2_000)).rejects.toMatchObject({
      code: CheckErrorCode.ScrapeFailed,
      message: expect.stringContaining('127.0.0.1:1') as unknown,
    });
  });
});
