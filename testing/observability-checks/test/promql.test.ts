import { describe, expect, it } from 'vitest';
import { CheckErrorCode, extractMetricNames, extractSelectors, extractVariableSelectors } from '../src/index.js';

const raws = (expr: string): string[] => extractMetricNames(expr).map((m) => m.raw);

describe('extractMetricNames', () => {
  it('finds the histogram under histogram_quantile over rate of _bucket by (le), with its base name', () => {
    const expr = 'histogram_quantile(0.99, sum by (le) (rate(orderwire_delivery_e2e_latency_seconds_bucket{service="edge"}[5m])))';
    expect(extractMetricNames(expr)).toEqual([
      { raw: 'orderwire_delivery_e2e_latency_seconds_bucket', base: 'orderwire_delivery_e2e_latency_seconds' },
    ]);
  });

  it('strips _sum and _count to the base too, and keeps names without a series suffix as they are', () => {
    expect(extractMetricNames('rate(a_seconds_sum[5m]) / rate(a_seconds_count[5m]) + b_total')).toEqual([
      { raw: 'a_seconds_sum', base: 'a_seconds' },
      { raw: 'a_seconds_count', base: 'a_seconds' },
      { raw: 'b_total', base: 'b_total' },
    ]);
  });

  it('returns recording-rule names with colons as metrics', () => {
    expect(raws('orderwire:delivery_errors:ratio_rate1h > (14.4 * 0.001) and orderwire:delivery_errors:ratio_rate5m > 0.0144')).toEqual([
      'orderwire:delivery_errors:ratio_rate1h',
      'orderwire:delivery_errors:ratio_rate5m',
    ]);
  });

  it('ignores metric-like words inside label-matcher strings, regexes included', () => {
    const expr = 'sum(rate(orderwire_rate_limited_total{route=~"orderwire_fake_total|/v1/orders", reason!="up"}[5m]))';
    expect(raws(expr)).toEqual(['orderwire_rate_limited_total']);
    expect(raws(`label_replace(up{job=~"orderwire-.+"}, "service", "$1", "job", "orderwire_(.+)_total")`)).toEqual(['up']);
    expect(raws("a{x='single_quoted_metric'} + b{y=`raw_string_metric`}")).toEqual(['a', 'b']);
    expect(raws('a{x="escaped \\" quote_metric"}')).toEqual(['a']);
  });

  it('ignores label names in by / without / on / ignoring / group_left / group_right lists', () => {
    const expr =
      'sum without (instance, le) (a) / on (job, service) group_left (version) b * ignoring (pod) group_right (node) c';
    expect(raws(expr)).toEqual(['a', 'b', 'c']);
    expect(raws('sum(rate(x[5m])) by (outcome, reason)')).toEqual(['x']);
  });

  it('ignores functions, aggregations, keywords, whatever their case', () => {
    expect(raws('SUM BY (le) (RATE(m_bucket[5m])) AND ON() vector(1) OR absent(n) UNLESS count(o) > bool 0')).toEqual([
      'm_bucket',
      'n',
      'o',
    ]);
    expect(raws('topk(10, max by (consumer_name) (a + b))')).toEqual(['a', 'b']);
    expect(raws('count_values("value", build_info)')).toEqual(['build_info']);
    expect(raws('quantile(0.9, x) + stddev(y) + group(z)')).toEqual(['x', 'y', 'z']);
  });

  it('ignores numbers and durations, offset and @ modifiers', () => {
    expect(raws('1e3 + 0x1F + .5 + Inf - NaN')).toEqual([]);
    expect(raws('rate(a[1h30m] offset -5m) + b @ 1609746000 + c @ start() + d offset 1d')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('handles subqueries', () => {
    expect(raws('max_over_time(deriv(orderwire_dlq_depth[5m])[1h:1m]) > 0')).toEqual(['orderwire_dlq_depth']);
    expect(raws('min_over_time(rate(a_total[5m])[30m:])')).toEqual(['a_total']);
  });

  it('skips Grafana variables and macros', () => {
    expect(raws('rate(x{instance=~"$instance"}[$__rate_interval]) * ${factor} / [[old_style]] + $bare')).toEqual(['x']);
    expect(raws('increase(y[$__range])')).toEqual(['y']);
  });

  it('reads names given by __name__ and PromQL 3 quoted names, ignores comments', () => {
    expect(raws('{__name__="real_metric", a="b"} or {"quoted.metric", c="d"}')).toEqual(['real_metric', 'quoted.metric']);
    // A regex on __name__ names no single metric.
    expect(raws('{__name__=~"orderwire_.+"}')).toEqual([]);
    expect(raws('# commented_metric\nreal')).toEqual(['real']);
  });

  it('deduplicates by raw name in order of appearance', () => {
    expect(raws('a + b + a{x="1"} + b')).toEqual(['a', 'b']);
  });

  it('rejects expressions that cannot be tokenised, with a stable code', () => {
    for (const bad of ['a{x="unterminated}', 'sum(rate(a[5m])', 'a{x=1}', 'a ? b']) {
      expect(() => extractMetricNames(bad), bad).toThrow(expect.objectContaining({ code: CheckErrorCode.PromqlSyntax }));
    }
  });
});

describe('extractSelectors', () => {
  it('keeps each selector with its matchers, without __name__', () => {
    expect(extractSelectors('a{le="0.25",service!="x"} / {__name__="a", outcome=~"acked|rejected"}')).toEqual([
      {
        raw: 'a',
        base: 'a',
        matchers: [
          { name: 'le', op: '=', value: '0.25' },
          { name: 'service', op: '!=', value: 'x' },
        ],
      },
      { raw: 'a', base: 'a', matchers: [{ name: 'outcome', op: '=~', value: 'acked|rejected' }] },
    ]);
  });
});

describe('extractVariableSelectors', () => {
  it('reads the selector of label_values(selector, label), not the label', () => {
    expect(extractVariableSelectors('label_values(up{job="orderwire-edge"}, instance)').map((s) => s.raw)).toEqual(['up']);
    expect(extractVariableSelectors('label_values(jetstream_stream_total_messages, stream_name)').map((s) => s.raw)).toEqual([
      'jetstream_stream_total_messages',
    ]);
  });

  it('reads query_result(expr); label_values(label), label_names() and metrics(re) read no metric', () => {
    expect(extractVariableSelectors('query_result(topk(5, sum by (route) (rate(x_total[5m]))))').map((s) => s.raw)).toEqual(['x_total']);
    expect(extractVariableSelectors('label_values(instance)')).toEqual([]);
    expect(extractVariableSelectors('label_names()')).toEqual([]);
    expect(extractVariableSelectors('metrics(orderwire_.*)')).toEqual([]);
  });
});
