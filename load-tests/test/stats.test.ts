import { describe, expect, it } from 'vitest';
import { Samples, percentile, round, summarize } from '../src/stats.js';

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

  it('rounds for display', () => {
    expect([round(1.23456), round(123.456), round(Number.NaN)]).toEqual([1.235, 123.5, Number.NaN]);
  });
});
