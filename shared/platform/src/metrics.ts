/**
 * A per-service Prometheus registry. Helpers register into it (never the global registry, so
 * two apps in one test process do not collide) and enforce the `orderwire_` name prefix, so
 * dashboards and alert rules can rely on one namespace.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { PLATFORM_ERRORS } from './errors.js';

/** Every Orderwire metric starts with this. */
export const METRIC_PREFIX = 'orderwire_';
/** Prefix of the default Node.js process metrics. */
export const NODE_METRIC_PREFIX = 'orderwire_node_';

const METRIC_NAME_RE = /^orderwire_[a-z0-9]+(?:_[a-z0-9]+)*$/;

export interface CreateMetricsOptions {
  service: string;
  /** Collect Node.js process metrics (event loop lag, heap, GC…) under `orderwire_node_`. @default true */
  defaultMetrics?: boolean;
}

type MetricOpts<C> = Omit<C, 'registers'>;

export interface Metrics {
  readonly registry: Registry;
  /** Registers a counter, or returns the one already registered under that name. */
  counter<T extends string = string>(opts: MetricOpts<CounterConfiguration<T>>): Counter<T>;
  gauge<T extends string = string>(opts: MetricOpts<GaugeConfiguration<T>>): Gauge<T>;
  histogram<T extends string = string>(opts: MetricOpts<HistogramConfiguration<T>>): Histogram<T>;
  /** Prometheus text exposition of the registry. */
  text(): Promise<string>;
  readonly contentType: string;
}

/** Throws ORDERWIRE_ERR_METRIC_NAME unless `name` is `orderwire_` + lower snake case. */
export function assertMetricName(name: string): void {
  if (!name.startsWith(METRIC_PREFIX)) {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_METRIC_NAME', { name, reason: `must start with ${METRIC_PREFIX}` });
  }
  if (!METRIC_NAME_RE.test(name)) {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_METRIC_NAME', {
      name,
      reason: 'must be lower snake case ([a-z0-9_])',
    });
  }
}

/** The heap's live set: `used_heap_size` right after the latest major (mark-compact) GC. */
export const HEAP_LIVE_METRIC = `${NODE_METRIC_PREFIX}heap_live_bytes`;

let heapLiveBytes: number | undefined;
let heapLiveObserver: PerformanceObserver | undefined;

/**
 * One observer per process, shared by every registry (tests build several apps in one process).
 * The used heap sampled at a random moment is a sawtooth that a soak's slope cannot judge; what a
 * major GC leaves behind is what the process really keeps, so a leak shows there and noise does not.
 */
function observeHeapLive(): void {
  if (heapLiveObserver !== undefined) return;
  heapLiveObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) heapLiveBytes = getHeapStatistics().used_heap_size;
    }
  });
  heapLiveObserver.observe({ entryTypes: ['gc'] });
}

export function createMetrics(options: CreateMetricsOptions): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: NODE_METRIC_PREFIX });
    observeHeapLive();
    new Gauge({
      name: HEAP_LIVE_METRIC,
      help: 'Heap used right after the latest major GC (the live set; before the first one, the heap used now)',
      registers: [registry],
      collect() {
        this.set(heapLiveBytes ?? getHeapStatistics().used_heap_size);
      },
    });
  }

  // Returning the existing metric makes factories (createHttpServer, per-app setup) safe to
  // call twice on one registry; a same-name metric of another kind is a programming error.
  function existing<M>(name: string, kind: abstract new (...args: never[]) => M): M | undefined {
    const found = registry.getSingleMetric(name);
    if (found === undefined) return undefined;
    if (!(found instanceof kind)) {
      throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_METRIC_NAME', {
        name,
        reason: 'already registered as a different metric type',
      });
    }
    return found;
  }

  return {
    registry,
    contentType: registry.contentType,
    counter<T extends string = string>(opts: MetricOpts<CounterConfiguration<T>>): Counter<T> {
      assertMetricName(opts.name);
      return existing<Counter<T>>(opts.name, Counter) ?? new Counter<T>({ ...opts, registers: [registry] });
    },
    gauge<T extends string = string>(opts: MetricOpts<GaugeConfiguration<T>>): Gauge<T> {
      assertMetricName(opts.name);
      return existing<Gauge<T>>(opts.name, Gauge) ?? new Gauge<T>({ ...opts, registers: [registry] });
    },
    histogram<T extends string = string>(opts: MetricOpts<HistogramConfiguration<T>>): Histogram<T> {
      assertMetricName(opts.name);
      return existing<Histogram<T>>(opts.name, Histogram) ?? new Histogram<T>({ ...opts, registers: [registry] });
    },
    text: () => registry.metrics(),
  };
}
