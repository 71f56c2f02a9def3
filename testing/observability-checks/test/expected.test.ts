import { describe, expect, it } from 'vitest';
import { expectedMetricsFrom } from '../src/index.js';
import { dashboard, rules } from './fixtures.js';

const RULES = `
groups:
  - name: g
    rules:
      - record: orderwire:things:rate5m
        expr: sum(rate(orderwire_ingest_orders_total{outcome="accepted"}[5m]))
      - alert: ThingsLow
        expr: orderwire:things:rate5m < 1 and on() max(orderwire_ingest_breaker_state) == 0
        labels: { severity: ticket, service: ingest }
`;

describe('expectedMetricsFrom', () => {
  it('collects metrics of panels, variables and rules, resolves recording rules, groups by owning service', () => {
    const d = dashboard(
      'a',
      [
        { title: 'Recorded', exprs: ['orderwire:things:rate5m'] },
        { title: 'Latency', exprs: ['histogram_quantile(0.99, sum by (le) (rate(orderwire_edge_ack_latency_seconds_bucket[5m])))'] },
        { title: 'E2E count', exprs: ['sum(rate(orderwire_delivery_e2e_latency_seconds_count[5m]))'] },
      ],
      [{ name: 'instance', type: 'query', datasource: { uid: '${datasource}' }, query: { query: 'label_values(orderwire_edge_connections, instance)' } }],
    );
    const e = expectedMetricsFrom({ dashboards: [d], rules: rules(RULES) });
    expect(e.recordingRules).toEqual(['orderwire:things:rate5m']);
    expect(e.byService).toEqual({
      edge: ['orderwire_delivery_e2e_latency_seconds', 'orderwire_edge_ack_latency_seconds', 'orderwire_edge_connections'],
      ingest: ['orderwire_ingest_breaker_state', 'orderwire_ingest_orders_total'],
    });
    const ack = e.metrics.find((m) => m.name === 'orderwire_edge_ack_latency_seconds')!;
    expect(ack.series).toEqual(['orderwire_edge_ack_latency_seconds_bucket']);
    expect(ack.uses).toEqual([{ kind: 'panel', file: 'a.json', title: 'Latency', series: 'orderwire_edge_ack_latency_seconds_bucket', matchers: [] }]);
    const orders = e.metrics.find((m) => m.name === 'orderwire_ingest_orders_total')!;
    // Reached through the recording rule's own expression.
    expect(orders.uses).toEqual([
      {
        kind: 'record',
        file: 'rules.yml',
        title: 'orderwire:things:rate5m',
        series: 'orderwire_ingest_orders_total',
        matchers: [{ name: 'outcome', op: '=', value: 'accepted' }],
      },
    ]);
    expect(e.metrics.find((m) => m.name === 'orderwire_edge_connections')!.uses[0]!.kind).toBe('variable');
    expect(e.unresolved).toEqual([]);
  });

  it('requires shared metrics from every service, from the service a selector names, or from any one', () => {
    const d = dashboard('b', [
      { title: 'HTTP all', exprs: ['sum(rate(orderwire_http_request_duration_seconds_count[5m]))'] },
      { title: 'Limited auth', exprs: ['sum(rate(orderwire_rate_limited_total{service="auth"}[5m]))'] },
      { title: 'Limited two', exprs: ['sum(rate(orderwire_rate_limited_total{service=~"ingest|edge"}[5m]))'] },
      { title: 'Redis', exprs: ['min by (service) (orderwire_redis_connected)'] },
      { title: 'NATS of one', exprs: ['min(orderwire_nats_connected{service=~"$svc"})'] },
    ]);
    const e = expectedMetricsFrom({ dashboards: [d], rules: [] });
    const byName = new Map(e.metrics.map((m) => [m.name, m]));
    expect(byName.get('orderwire_http_request_duration_seconds')).toMatchObject({ requirement: 'each', services: ['auth', 'dlq', 'edge', 'ingest', 'webhooks'] });
    expect(byName.get('orderwire_rate_limited_total')).toMatchObject({ requirement: 'each', services: ['auth', 'edge', 'ingest'] });
    expect(byName.get('orderwire_redis_connected')).toMatchObject({ requirement: 'any' });
    // `$svc` names no service: the ownership rule (every service) applies.
    expect(byName.get('orderwire_nats_connected')).toMatchObject({ requirement: 'each', services: ['auth', 'dlq', 'edge', 'ingest', 'webhooks'] });
    expect(e.anyService).toEqual(['orderwire_redis_connected']);
  });

  it('sets exporter and Prometheus metrics apart and reports what nobody provides', () => {
    const d = dashboard('c', [
      { title: 'NATS', exprs: ['sum(gnatsd_varz_connections) + sum(jetstream_consumer_num_pending)'] },
      { title: 'Up', exprs: ['up{job="orderwire-edge"}', 'ALERTS{alertstate="firing"}'] },
      { title: 'Typo', exprs: ['orderwire:not_recorded:rate5m', 'node_cpu_seconds_total', 'orderwire_mystery_total'] },
      { title: 'Wrong owner', exprs: ['orderwire_edge_connections{service="ingest"}'] },
    ]);
    const e = expectedMetricsFrom({ dashboards: [d], rules: [] });
    expect(e.external.map((x) => [x.name, x.source])).toEqual([
      ['ALERTS', 'prometheus'],
      ['gnatsd_varz_connections', 'nats-exporter'],
      ['jetstream_consumer_num_pending', 'nats-exporter'],
      ['up', 'prometheus'],
    ]);
    expect(e.unresolved.map((u) => u.name)).toEqual([
      'node_cpu_seconds_total',
      'orderwire:not_recorded:rate5m',
      'orderwire_edge_connections',
      'orderwire_mystery_total',
    ]);
    expect(e.unresolved.find((u) => u.name === 'orderwire:not_recorded:rate5m')!.reason).toMatch(/no rule records it/);
    expect(e.metrics).toEqual([]);
  });

  it('ignores hidden queries', () => {
    const d = dashboard('h', [{ title: 'x', exprs: [] }]);
    const withHidden = {
      ...d,
      panels: [{ ...d.panels[0]!, queries: [{ refId: 'A', expr: 'orderwire_edge_connections', datasource: undefined, hide: true }] }],
    };
    expect(expectedMetricsFrom({ dashboards: [withHidden], rules: [] }).metrics).toEqual([]);
  });
});
