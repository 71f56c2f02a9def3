/**
 * The set of metrics the services must export, derived from what the dashboards and rules
 * read — never a hand-kept list. A dashboard panel or alert that reads a metric no service
 * exports is an empty panel or an alert that can never fire.
 */
import { loadDashboards, type LoadedDashboard } from './dashboards.js';
import { extractSelectors, extractVariableSelectors, type ExtractedSelector, type LabelMatcher } from './promql.js';
import { loadRules, type LoadedRule } from './rules.js';

/** Services that serve `/metrics`, by the value of their `service` label. */
export const SERVICES = ['auth', 'ingest', 'edge', 'dlq', 'webhooks'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * `each`: every listed service must export the metric. `any`: at least one of them must (a
 * metric only some services have reason to export, e.g. Redis state).
 */
export type Requirement = 'each' | 'any';

export interface OwnershipRule {
  /** A name prefix ending in `_`, or an exact metric name. */
  readonly match: string;
  readonly services: readonly string[];
  readonly requirement: Requirement;
}

/**
 * Who exports what, by name. `orderwire_<svc>_` belongs to that service; the shared metrics
 * are listed. A selector with a `service="x"` matcher narrows a shared metric to that service.
 */
export const DEFAULT_OWNERSHIP: readonly OwnershipRule[] = [
  { match: 'orderwire_auth_', services: ['auth'], requirement: 'each' },
  { match: 'orderwire_ingest_', services: ['ingest'], requirement: 'each' },
  { match: 'orderwire_edge_', services: ['edge'], requirement: 'each' },
  { match: 'orderwire_dlq_', services: ['dlq'], requirement: 'each' },
  { match: 'orderwire_webhooks_', services: ['webhooks'], requirement: 'each' },
  // Stream and bucket disk use against max_bytes: sampled by the dlq (trackStreamUsage in platform).
  { match: 'orderwire_jetstream_', services: ['dlq'], requirement: 'each' },
  // Accept → display ack is observed where the display ack arrives.
  { match: 'orderwire_delivery_', services: ['edge'], requirement: 'each' },
  // createHttpServer and createMetrics give every service these.
  { match: 'orderwire_http_', services: SERVICES, requirement: 'each' },
  { match: 'orderwire_node_', services: SERVICES, requirement: 'each' },
  // Every service talks to NATS; not every one to Redis, and not every one rate-limits.
  { match: 'orderwire_nats_connected', services: SERVICES, requirement: 'each' },
  { match: 'orderwire_redis_connected', services: SERVICES, requirement: 'any' },
  { match: 'orderwire_rate_limited_total', services: SERVICES, requirement: 'any' },
];

/** Metrics that come from elsewhere than the services; never checked against their /metrics. */
export const EXTERNAL_SOURCES: ReadonlyArray<{ readonly match: RegExp; readonly source: ExternalSource }> = [
  { match: /^(?:gnatsd|jetstream)_/, source: 'nats-exporter' },
  { match: /^(?:up|scrape_[a-z_]+|ALERTS|ALERTS_FOR_STATE)$/, source: 'prometheus' },
  // The backup CronJob's runs, as kube-state-metrics reports them.
  { match: /^kube_cronjob_/, source: 'kube-state-metrics' },
  // Written by `orderwire-backup` (a CLI, no /metrics) for node-exporter's textfile collector.
  { match: /^orderwire_backup_/, source: 'backup-textfile' },
];
export type ExternalSource = 'nats-exporter' | 'prometheus' | 'kube-state-metrics' | 'backup-textfile';

export interface MetricUse {
  readonly kind: 'panel' | 'variable' | 'alert' | 'record';
  /** Dashboard or rule file name. */
  readonly file: string;
  /** Panel title, variable name, alert name or recorded name. */
  readonly title: string;
  /** The series name as written (`..._bucket`). */
  readonly series: string;
  readonly matchers: readonly LabelMatcher[];
}

export interface ExpectedMetric {
  /** The registered name (histogram suffixes stripped). */
  readonly name: string;
  /** Series names the queries read (`foo_bucket`, `foo_count`, ...). */
  readonly series: readonly string[];
  readonly services: readonly string[];
  readonly requirement: Requirement;
  readonly uses: readonly MetricUse[];
}

export interface ExternalMetric {
  readonly name: string;
  readonly source: ExternalSource;
  readonly uses: readonly MetricUse[];
}

export interface UnresolvedMetric {
  readonly name: string;
  readonly reason: string;
  readonly uses: readonly MetricUse[];
}

export interface ExpectedMetrics {
  /** Every service metric used, sorted by name. */
  readonly metrics: readonly ExpectedMetric[];
  /** Service → metrics it must export (requirement `each`), sorted. */
  readonly byService: Readonly<Record<string, readonly string[]>>;
  /** Metrics at least one service must export (requirement `any`), sorted. */
  readonly anyService: readonly string[];
  readonly external: readonly ExternalMetric[];
  /** Names recording rules define; uses of them are resolved through the rules' own exprs. */
  readonly recordingRules: readonly string[];
  /** Names no service, rule or known external source provides: an empty panel for sure. */
  readonly unresolved: readonly UnresolvedMetric[];
}

export interface ExpectedMetricsOptions {
  readonly dashboardsDir: string;
  readonly rulesDir: string;
  /** @default DEFAULT_OWNERSHIP */
  readonly ownership?: readonly OwnershipRule[];
}

export interface MetricSources {
  readonly dashboards: readonly LoadedDashboard[];
  readonly rules: readonly LoadedRule[];
  readonly ownership?: readonly OwnershipRule[];
}

/** Code-point order: locale collation would sort `:` and `_` differently per machine. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function ownerRule(name: string, ownership: readonly OwnershipRule[]): OwnershipRule | undefined {
  return ownership.find((r) => (r.match.endsWith('_') ? name.startsWith(r.match) : name === r.match));
}

/** Services a selector names explicitly through `service="x"` or `service=~"x|y"`. */
function servicesNamed(matchers: readonly LabelMatcher[]): string[] | undefined {
  const m = matchers.find((x) => x.name === 'service' && (x.op === '=' || x.op === '=~'));
  if (m === undefined) return undefined;
  if (m.op === '=') return [m.value];
  // Only a plain alternation names services; anything else (`.*`, `$service`) does not.
  return /^[a-z0-9_-]+(?:\|[a-z0-9_-]+)*$/.test(m.value) ? m.value.split('|') : undefined;
}

function usesOf(d: LoadedDashboard): Array<[ExtractedSelector, Omit<MetricUse, 'series' | 'matchers'>]> {
  const out: Array<[ExtractedSelector, Omit<MetricUse, 'series' | 'matchers'>]> = [];
  for (const p of d.panels) {
    for (const q of p.queries) {
      if (q.hide || q.expr.trim() === '') continue;
      for (const s of extractSelectors(q.expr)) out.push([s, { kind: 'panel', file: d.file, title: p.title }]);
    }
  }
  for (const v of d.variables) {
    if (v.type !== 'query' || v.query === undefined) continue;
    for (const s of extractVariableSelectors(v.query)) out.push([s, { kind: 'variable', file: d.file, title: v.name }]);
  }
  return out;
}

/** {@link expectedMetrics} over already loaded dashboards and rules. */
export function expectedMetricsFrom(sources: MetricSources): ExpectedMetrics {
  const ownership = sources.ownership ?? DEFAULT_OWNERSHIP;
  const recorded = new Set(sources.rules.filter((r) => r.kind === 'record').map((r) => r.name));
  const all: Array<[ExtractedSelector, Omit<MetricUse, 'series' | 'matchers'>]> = [];
  for (const d of sources.dashboards) all.push(...usesOf(d));
  for (const r of sources.rules) {
    for (const s of extractSelectors(r.expr)) all.push([s, { kind: r.kind, file: r.file, title: r.name }]);
  }

  interface Acc {
    series: Set<string>;
    each: Set<string>;
    any: Set<string>;
    uses: MetricUse[];
  }
  const metrics = new Map<string, Acc>();
  const external = new Map<string, { source: ExternalSource; uses: MetricUse[] }>();
  const unresolved = new Map<string, { reason: string; uses: MetricUse[] }>();
  const addUnresolved = (name: string, reason: string, use: MetricUse): void => {
    const u = unresolved.get(name) ?? { reason, uses: [] };
    u.uses.push(use);
    unresolved.set(name, u);
  };

  for (const [sel, where] of all) {
    const use: MetricUse = { ...where, series: sel.raw, matchers: sel.matchers };
    if (recorded.has(sel.raw)) continue;
    if (sel.raw.includes(':')) {
      addUnresolved(sel.raw, 'looks like a recording rule, but no rule records it', use);
      continue;
    }
    const ext = EXTERNAL_SOURCES.find((e) => e.match.test(sel.raw));
    if (ext !== undefined) {
      const e = external.get(sel.raw) ?? { source: ext.source, uses: [] };
      e.uses.push(use);
      external.set(sel.raw, e);
      continue;
    }
    if (!sel.raw.startsWith('orderwire_')) {
      addUnresolved(sel.raw, 'not an orderwire_ metric and not from a known exporter', use);
      continue;
    }
    const rule = ownerRule(sel.base, ownership);
    const named = servicesNamed(sel.matchers);
    let each: readonly string[] = [];
    let any: readonly string[] = [];
    if (rule !== undefined && rule.services.length === 1) {
      if (named !== undefined && !named.every((s) => rule.services.includes(s))) {
        addUnresolved(sel.base, `selector asks service=~"${named.join('|')}" for a metric only ${rule.services[0]} exports`, use);
        continue;
      }
      each = rule.services;
    } else if (named !== undefined) {
      each = named;
    } else if (rule !== undefined) {
      if (rule.requirement === 'each') each = rule.services;
      else any = rule.services;
    } else {
      addUnresolved(sel.base, 'no ownership rule says which service exports it, and the selector has no service matcher', use);
      continue;
    }
    const acc = metrics.get(sel.base) ?? { series: new Set<string>(), each: new Set<string>(), any: new Set<string>(), uses: [] };
    acc.series.add(sel.raw);
    for (const s of each) acc.each.add(s);
    for (const s of any) acc.any.add(s);
    acc.uses.push(use);
    metrics.set(sel.base, acc);
  }

  const list: ExpectedMetric[] = [...metrics.entries()]
    .sort(([a], [b]) => byName(a, b))
    .map(([name, acc]) => {
      // A use that names its service already proves the metric exists somewhere.
      const requirement: Requirement = acc.each.size > 0 ? 'each' : 'any';
      return {
        name,
        series: [...acc.series].sort(byName),
        services: [...(requirement === 'each' ? acc.each : acc.any)].sort(byName),
        requirement,
        uses: acc.uses,
      };
    });
  const byService: Record<string, string[]> = {};
  for (const m of list) {
    if (m.requirement !== 'each') continue;
    for (const s of m.services) (byService[s] ??= []).push(m.name);
  }
  return {
    metrics: list,
    byService,
    anyService: list.filter((m) => m.requirement === 'any').map((m) => m.name),
    external: [...external.entries()].sort(([a], [b]) => byName(a, b)).map(([name, e]) => ({ name, ...e })),
    recordingRules: [...recorded].sort(byName),
    unresolved: [...unresolved.entries()].sort(([a], [b]) => byName(a, b)).map(([name, u]) => ({ name, ...u })),
  };
}

/**
 * Every metric read by a dashboard panel, a dashboard variable, or an alerting/recording rule,
 * minus recording-rule outputs and external (exporter / Prometheus) metrics, with the
 * services that must export each one.
 */
export async function expectedMetrics(options: ExpectedMetricsOptions): Promise<ExpectedMetrics> {
  const [dashboards, rules] = await Promise.all([loadDashboards(options.dashboardsDir), loadRules(options.rulesDir)]);
  return expectedMetricsFrom(options.ownership === undefined ? { dashboards, rules } : { dashboards, rules, ownership: options.ownership });
}
