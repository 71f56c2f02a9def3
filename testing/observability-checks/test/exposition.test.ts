import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { dominantService, parseExposition } from '../src/index.js';

/** A registry like the services': default label `service`, prom-client's own text format. */
async function serviceText(service: string, fill: (r: Registry) => void): Promise<string> {
  const r = new Registry();
  r.setDefaultLabels({ service });
  fill(r);
  return r.metrics();
}

describe('parseExposition', () => {
  it('groups prom-client samples into families: counters, gauges, histograms', async () => {
    const text = await serviceText('edge', (r) => {
      new Counter({ name: 'orderwire_edge_deliveries_total', help: 'd', labelNames: ['outcome'], registers: [r] }).inc({ outcome: 'acked' }, 3);
      new Gauge({ name: 'orderwire_edge_connections', help: 'c', registers: [r] }).set(7);
      new Histogram({ name: 'orderwire_delivery_e2e_latency_seconds', help: 'e', buckets: [0.1, 0.25, 1], registers: [r] }).observe(0.2);
    });
    const { families, samples } = parseExposition(text);
    const deliveries = families.get('orderwire_edge_deliveries_total')!;
    expect(deliveries).toMatchObject({ type: 'counter', help: 'd', samples: 1 });
    expect([...deliveries.labelNames].sort()).toEqual(['outcome', 'service']);
    expect(families.get('orderwire_edge_connections')).toMatchObject({ type: 'gauge', samples: 1 });
    const e2e = families.get('orderwire_delivery_e2e_latency_seconds')!;
    expect(e2e.type).toBe('histogram');
    // 4 buckets (incl. +Inf) + _sum + _count.
    expect(e2e.samples).toBe(6);
    expect([...e2e.buckets].sort((a, b) => a - b)).toEqual([0.1, 0.25, 1, Infinity]);
    expect([...e2e.services]).toEqual(['edge']);
    expect(families.has('orderwire_delivery_e2e_latency_seconds_bucket')).toBe(false);
    expect(samples.find((s) => s.name === 'orderwire_edge_connections')).toEqual({
      name: 'orderwire_edge_connections',
      labels: { service: 'edge' },
      value: 7,
    });
  });

  it('keeps a labelled metric that has no series yet as a family with 0 samples', async () => {
    const text = await serviceText('dlq', (r) => {
      new Counter({ name: 'orderwire_dlq_entries_total', help: 'entries', labelNames: ['reason'], registers: [r] });
    });
    expect(parseExposition(text).families.get('orderwire_dlq_entries_total')).toMatchObject({ type: 'counter', samples: 0 });
  });

  it('reads OpenMetrics-style counters declared without _total, escapes, timestamps and special values', () => {
    const text = [
      '# HELP x things',
      '# TYPE x counter',
      'x_total{path="/a\\"b",nl="1\\n2"} 4 1700000000000',
      '# TYPE g gauge',
      'g NaN',
      'g{k="v"} +Inf',
      'untyped_thing -3.5e-2',
      '',
    ].join('\n');
    const { families, samples } = parseExposition(text);
    expect(families.get('x')).toMatchObject({ type: 'counter', samples: 1 });
    expect(samples[0]!.labels).toEqual({ path: '/a"b', nl: '1\n2' });
    expect(families.get('g')!.samples).toBe(2);
    expect(samples[2]!.value).toBe(Infinity);
    expect(families.get('untyped_thing')).toMatchObject({ type: 'untyped', samples: 1 });
    expect(samples[3]!.value).toBeCloseTo(-0.035);
  });

  it('throws on a malformed sample line, naming it', () => {
    expect(() => parseExposition('good 1\nbad{x="1" 2\n')).toThrow(/bad\{x="1" 2/);
    expect(() => parseExposition('novalue\n')).toThrow(/novalue/);
  });
});

describe('dominantService', () => {
  it('is the most frequent service label value', async () => {
    const text = await serviceText('ingest', (r) => {
      new Gauge({ name: 'a', help: 'a', registers: [r] }).set(1);
      new Gauge({ name: 'b', help: 'b', registers: [r] }).set(1);
    });
    expect(dominantService(parseExposition(text))).toBe('ingest');
    expect(dominantService(parseExposition('x 1\n'))).toBeUndefined();
  });
});
