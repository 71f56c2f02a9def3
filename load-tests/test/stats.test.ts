import { describe, expect, it } from 'vitest';
import { LatencyTimeline, Samples, percentile, round, summarize } from '../src/stats.js';

describe('latency statistics', () => {
  it('uses nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 0.5), percentile(sorted, 0.95), percentile(sorted, 0.99), percentile(sorted, 1)]).toEqual([50, 95, 99, 100]);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('summarizes unsorted samples and grows past its initial capacity', () => {
    const s = new Samples(2);
    for (const v of [5, 1, 4, 2, 3, Number.NaN]) s.add(v);
    expect(s.count).toBe(5);
    expect(s.summary()).toEqual({ count: 5, min: 1, p50: 3, p95: 5, p99: 5, max: 5, mean: 3 });
    expect(summarize([])).toBeUndefined();
  });

  it('puts each latency in the window its order was due in, and reports only windows with samples', () => {
    const t = new LatencyTimeline(100, 5); // 100 orders/s: orders 0–499 are due in the first 5 s
    t.add(0, 2);
    t.add(499, 4);
    t.add(500, 300);
    t.add(1500, 9); // 15 s: the 10–15 s window stays empty
    t.add(-1, 1);
    t.add(Number.NaN, 1);
    expect(t.summary()).toEqual([
      { fromS: 0, toS: 5, count: 2, p50: 2, p99: 4, max: 4 },
      { fromS: 5, toS: 10, count: 1, p50: 300, p99: 300, max: 300 },
      { fromS: 15, toS: 20, count: 1, p50: 9, p99: 9, max: 9 },
    ]);
    expect(() => new LatencyTimeline(0, 5)).toThrow(RangeError);
  });

  it('rounds for display', () => {
    expect([round(1.23456), round(123.456), round(Number.NaN)]).toEqual([1.235, 123.5, Number.NaN]);
  });
});
