/**
 * Compares the expected metrics with what the services really serve on `/metrics`.
 */
import { CheckError, CheckErrorCode } from './errors.js';
import type { ExpectedMetric, ExpectedMetrics } from './expected.js';
import { dominantService, parseExposition, type MetricFamily } from './exposition.js';

/** Labels Prometheus attaches at scrape time; a service never exposes them itself. */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance', '__name__']);

/**
 * One `/metrics` body. `service` says whose it is; without it, the most frequent value of the
 * `service` label in the text decides (every Orderwire registry sets that label).
 */
export type ScrapedInput = string | { readonly text: string; readonly service?: string; readonly source?: string };

export type MetricProblemKind =
  /** The service declares no such metric at all. */
  | 'absent'
  /** Declared (`# TYPE`), but no series yet: the panel would be empty. */
  | 'no_samples'
  /** Nothing was scraped from a service that must export metrics. */
  | 'service_not_scraped'
  /** A selector matches on a label the metric's series do not carry. */
  | 'label_missing'
  /** A selector reads `le="x"` of a histogram that has no such bucket. */
  | 'bucket_missing';

export interface MetricProblem {
  readonly kind: MetricProblemKind;
  /** Metric name; empty for `service_not_scraped`. */
  readonly metric: string;
  /** The service concerned, or `*` for a metric any service may export. */
  readonly service: string;
  readonly message: string;
  /** Where it is used: `file: title`. */
  readonly usedBy: readonly string[];
}

export interface MissingMetricsOptions {
  /** Count a metric declared without any series as missing. @default true */
  readonly requireSamples?: boolean;
}

interface MergedFamily {
  samples: number;
  labelNames: Set<string>;
  buckets: Set<number>;
}

function merge(into: Map<string, MergedFamily>, f: MetricFamily): void {
  const m = into.get(f.name) ?? { samples: 0, labelNames: new Set<string>(), buckets: new Set<number>() };
  m.samples += f.samples;
  for (const l of f.labelNames) m.labelNames.add(l);
  for (const b of f.buckets) m.buckets.add(b);
  into.set(f.name, m);
}

function find(families: ReadonlyMap<string, MergedFamily> | undefined, metric: ExpectedMetric): MergedFamily | undefined {
  if (families === undefined) return undefined;
  // The registered (base) name first; a raw name too, for a metric that really ends in `_count`.
  return families.get(metric.name) ?? metric.series.map((s) => families.get(s)).find((f) => f !== undefined);
}

function usedBy(metric: ExpectedMetric): string[] {
  return [...new Set(metric.uses.map((u) => `${u.file}: ${u.title}`))].sort();
}

/**
 * Every way the scraped texts fall short of `expected`: metrics absent or without series,
 * services not scraped at all, label names and histogram buckets the queries rely on but the
 * series lack. An empty array means no panel or rule reads a metric nobody exports.
 */
export function missingMetrics(
  expected: ExpectedMetrics,
  scraped: readonly ScrapedInput[],
  options: MissingMetricsOptions = {},
): MetricProblem[] {
  const requireSamples = options.requireSamples ?? true;
  const byService = new Map<string, Map<string, MergedFamily>>();
  for (const input of scraped) {
    const text = typeof input === 'string' ? input : input.text;
    let exposition;
    try {
      exposition = parseExposition(text);
    } catch (err) {
      const source = typeof input === 'string' ? 'a scraped text' : (input.source ?? input.service ?? 'a scraped text');
      throw new CheckError(CheckErrorCode.ScrapeFailed, `${source}: ${(err as Error).message}`, { cause: err });
    }
    const service = (typeof input === 'string' ? undefined : input.service) ?? dominantService(exposition) ?? 'unknown';
    const families = byService.get(service) ?? new Map<string, MergedFamily>();
    for (const f of exposition.families.values()) merge(families, f);
    byService.set(service, families);
  }

  const problems: MetricProblem[] = [];
  const notScraped = new Set<string>();
  const checkFamily = (metric: ExpectedMetric, service: string, family: MergedFamily): void => {
    if (family.samples === 0) {
      if (requireSamples) {
        problems.push({
          kind: 'no_samples',
          metric: metric.name,
          service,
          message: `${metric.name} is declared by ${service} but has no series yet (initialise its label values, or drive traffic before checking)`,
          usedBy: usedBy(metric),
        });
      }
      return;
    }
    const reported = new Set<string>();
    for (const use of metric.uses) {
      for (const m of use.matchers) {
        if (TARGET_LABELS.has(m.name)) continue;
        if (m.name === 'le' && m.op === '=' && use.series.endsWith('_bucket')) {
          const bound = m.value === '+Inf' ? Infinity : Number(m.value);
          const key = `le=${m.value}`;
          if (!family.buckets.has(bound) && !reported.has(key)) {
            reported.add(key);
            problems.push({
              kind: 'bucket_missing',
              metric: metric.name,
              service,
              message: `${metric.name} has no bucket le="${m.value}" (buckets: ${[...family.buckets].sort((a, b) => a - b).join(', ')})`,
              usedBy: [`${use.file}: ${use.title}`],
            });
          }
          continue;
        }
        if (!family.labelNames.has(m.name) && !reported.has(m.name)) {
          reported.add(m.name);
          problems.push({
            kind: 'label_missing',
            metric: metric.name,
            service,
            message: `${metric.name} series carry no label "${m.name}" (labels: ${[...family.labelNames].sort().join(', ')})`,
            usedBy: [`${use.file}: ${use.title}`],
          });
        }
      }
    }
  };

  for (const metric of expected.metrics) {
    if (metric.requirement === 'each') {
      for (const service of metric.services) {
        const families = byService.get(service);
        if (families === undefined) {
          notScraped.add(service);
          continue;
        }
        const family = find(families, metric);
        if (family === undefined) {
          problems.push({
            kind: 'absent',
            metric: metric.name,
            service,
            message: `${service} does not export ${metric.name}`,
            usedBy: usedBy(metric),
          });
          continue;
        }
        checkFamily(metric, service, family);
      }
      continue;
    }
    const found = metric.services
      .map((s) => [s, find(byService.get(s), metric)] as const)
      .filter((x): x is readonly [string, MergedFamily] => x[1] !== undefined);
    if (found.length === 0) {
      problems.push({
        kind: 'absent',
        metric: metric.name,
        service: '*',
        message: `no service (of ${metric.services.join(', ')}) exports ${metric.name}`,
        usedBy: usedBy(metric),
      });
      continue;
    }
    const withSamples = found.find(([, f]) => f.samples > 0);
    checkFamily(metric, withSamples?.[0] ?? '*', withSamples?.[1] ?? found[0]![1]);
  }
  for (const service of [...notScraped].sort()) {
    problems.unshift({
      kind: 'service_not_scraped',
      metric: '',
      service,
      message: `no /metrics text of service ${service} was given, but ${expected.byService[service]?.length ?? 0} metrics must come from it`,
      usedBy: [],
    });
  }
  return problems;
}

export interface ScrapeTarget {
  readonly url: string;
  /** Force the service this text belongs to (else the `service` label decides). */
  readonly service?: string;
}

/** 5000 ms per /metrics request. */
export const DEFAULT_SCRAPE_TIMEOUT_MS = 5_000;

/** GETs every target's /metrics text. Throws `ORDERWIRE_ERR_OBSCHECK_SCRAPE_FAILED` naming the URL. */
export async function scrapeMetrics(
  targets: readonly ScrapeTarget[],
  timeoutMs: number = DEFAULT_SCRAPE_TIMEOUT_MS,
): Promise<Array<{ text: string; source: string; service?: string }>> {
  return Promise.all(
    targets.map(async (t) => {
      let res: Response;
      try {
        res = await fetch(t.url, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw new CheckError(CheckErrorCode.ScrapeFailed, `GET ${t.url}: ${(err as Error).message}`, { cause: err });
      }
      const text = await res.text();
      if (!res.ok) throw new CheckError(CheckErrorCode.ScrapeFailed, `GET ${t.url}: HTTP ${res.status}`);
      return t.service === undefined ? { text, source: t.url } : { text, source: t.url, service: t.service };
    }),
  );
}
