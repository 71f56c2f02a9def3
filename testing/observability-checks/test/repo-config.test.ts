/**
 * The repository's own observability config: dashboards, rules, runbook, docs, Alertmanager —
 * statically, and through promtool / amtool. The metric names of the NATS exporter are checked
 * against a real nats-server's /varz and the exporter's JetStream collector.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createMetrics } from '@orderwire/platform';
import { startNats, type NatsServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAYOUT,
  SERVICES,
  expectedMetricsFrom,
  findRepoRoot,
  loadDashboards,
  loadRuleTests,
  loadRules,
  markdownAnchors,
  parseExposition,
  ruleTestCoverage,
  runToolChecks,
  runTool,
  runbookAnchor,
  undocumentedMetrics,
  validateAlertmanager,
  validateDashboards,
  validateRules,
  type ExpectedMetrics,
  type LoadedDashboard,
  type LoadedRule,
} from '../src/index.js';

const ROOT = findRepoRoot()!;
const DASHBOARD_FILES = [
  'orderwire-auth.json',
  'orderwire-dlq.json',
  'orderwire-edge.json',
  'orderwire-ingest.json',
  'orderwire-jetstream.json',
  'orderwire-overview.json',
];

let dashboards: LoadedDashboard[];
let rules: LoadedRule[];
let expected: ExpectedMetrics;
let runbook: string;

beforeAll(async () => {
  expect(ROOT, 'repository root (turbo.json) not found').toBeDefined();
  dashboards = await loadDashboards(join(ROOT, LAYOUT.dashboards));
  rules = await loadRules(join(ROOT, LAYOUT.rules));
  expected = expectedMetricsFrom({ dashboards, rules });
  runbook = await readFile(join(ROOT, LAYOUT.runbook), 'utf8');
});

describe('Grafana dashboards', () => {
  it('are the six dashboards, each with a stable uid matching its file', () => {
    expect(dashboards.map((d) => d.file)).toEqual(DASHBOARD_FILES);
    for (const d of dashboards) expect(d.uid).toBe(d.file.replace(/\.json$/, ''));
  });

  it('parse, and every panel has a query and the ${datasource} datasource', () => {
    expect(validateDashboards(dashboards)).toEqual([]);
    for (const d of dashboards) {
      const panels = d.panels.filter((p) => p.type !== 'row');
      expect(panels.length, d.file).toBeGreaterThan(5);
      for (const p of panels) {
        expect(p.queries.length, `${d.file} / ${p.title}`).toBeGreaterThan(0);
        expect(p.datasource?.uid, `${d.file} / ${p.title}`).toBe('${datasource}');
      }
    }
  });

  it('read only metrics that some service, recording rule or known exporter provides', () => {
    expect(expected.unresolved).toEqual([]);
    expect(Object.keys(expected.byService).sort()).toEqual([...SERVICES].sort());
  });

  it('use Node.js process metrics by the names the services really expose (prom-client defaults and the live heap)', async () => {
    // The platform's registry, as every service builds it: prom-client's defaults plus ours.
    const r = createMetrics({ service: 'edge' }).registry;
    const names = new Set(parseExposition(await r.metrics()).families.keys());
    const used = expected.metrics.map((m) => m.name).filter((n) => n.startsWith('orderwire_node_'));
    expect(used.length).toBeGreaterThan(0);
    for (const n of used) expect(names, n).toContain(n);
  });
});

describe('Grafana provisioning', () => {
  it('provides a Prometheus datasource and loads the dashboards folder from files', async () => {
    const ds = parse(await readFile(join(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: Array<{ type: string; url: string; isDefault: boolean }>;
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', isDefault: true })]);
    expect(ds.datasources[0]!.url).toMatch(/^https?:\/\/\S+$/);
    const boards = parse(await readFile(join(ROOT, 'deploy/grafana/provisioning/dashboards/orderwire.yaml'), 'utf8')) as {
      apiVersion: number;
      providers: Array<{ type: string; folder: string; options: { path: string } }>;
    };
    expect(boards.apiVersion).toBe(1);
    expect(boards.providers).toEqual([expect.objectContaining({ type: 'file', folder: 'Orderwire' })]);
    expect(boards.providers[0]!.options.path).toMatch(/^\//);
  });
});

describe('Prometheus rules', () => {
  it('every alert has severity, service, summary, description and a runbook_url whose anchor exists', () => {
    expect(rules.filter((r) => r.kind === 'alert').length).toBeGreaterThan(10);
    expect(validateRules(rules, runbook)).toEqual([]);
    const anchors = markdownAnchors(runbook);
    for (const r of rules.filter((x) => x.kind === 'alert')) {
      expect(anchors, r.name).toContain(runbookAnchor(r.annotations.runbook_url ?? ''));
    }
  });

  it('every alert has a promtool case where it fires and one where it must not; every recording rule is tested', async () => {
    const coverage = ruleTestCoverage(rules, await loadRuleTests(join(ROOT, LAYOUT.ruleTests)));
    expect(coverage).toEqual({ neverFires: [], neverSilent: [], untestedRecords: [], unknownAlerts: [] });
  });

  it('pass promtool check rules, promtool test rules, promtool check config and amtool check-config', async () => {
    const results = await runToolChecks(ROOT);
    expect(results.map((r) => r.check)).toEqual([
      'promtool check rules',
      'promtool test rules',
      'promtool check config deploy/prometheus/prometheus.yml',
      'promtool check config deploy/prometheus/prometheus-k8s.yml',
      'amtool check-config',
    ]);
    for (const r of results) expect(r.problems, r.check).toEqual([]);
  });

  it('promtool test rules catches a changed threshold (the tests can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ow-rules-'));
    try {
      await cp(join(ROOT, 'deploy/prometheus'), join(dir, 'prometheus'), { recursive: true });
      const alertsFile = join(dir, 'prometheus/rules/orderwire-alerts.yml');
      const text = await readFile(alertsFile, 'utf8');
      const mutated = text.replace('orderwire_edge_oldest_unacked_age_seconds) > 300', 'orderwire_edge_oldest_unacked_age_seconds) > 3000');
      expect(mutated).not.toBe(text);
      await writeFile(alertsFile, mutated);
      const res = await runTool('promtool', ['test', 'rules', 'prometheus/tests/alerts.test.yml'], { cwd: dir, repoRoot: ROOT });
      expect(res.code).not.toBe(0);
      expect(res.stdout + res.stderr).toMatch(/OrderwireDisplayBacklogStale/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/metrics.md', () => {
  it('documents every metric a dashboard or rule reads', async () => {
    expect(undocumentedMetrics(expected, await readFile(join(ROOT, LAYOUT.metricsDoc), 'utf8'))).toEqual([]);
  });
});

describe('Alertmanager', () => {
  const config = (): string[] => [`--config.file=${LAYOUT.alertmanager}`];

  it('keeps secrets in files and inhibits only alerts that exist', async () => {
    const text = await readFile(join(ROOT, LAYOUT.alertmanager), 'utf8');
    expect(validateAlertmanager(text, new Set(rules.filter((r) => r.kind === 'alert').map((r) => r.name)))).toEqual([]);
    expect(text).toMatch(/api_url_file:/);
    expect(text).toMatch(/smtp_auth_password_file:/);
  });

  it('routes page to pages (Slack + e-mail), ticket and unlabelled alerts to tickets', async () => {
    const route = async (...labels: string[]): Promise<string> => {
      const res = await runTool('amtool', ['config', 'routes', 'test', ...config(), ...labels], { cwd: ROOT, repoRoot: ROOT });
      expect(res.code, res.stderr).toBe(0);
      return res.stdout.trim();
    };
    expect(await route('severity=page', 'alertname=OrderwireEdgeDown', 'service=edge')).toBe('pages');
    expect(await route('severity=ticket', 'alertname=OrderwireDLQGrowing', 'service=dlq')).toBe('tickets');
    expect(await route('alertname=Unlabelled')).toBe('tickets');
  });

  it('renders every notification template', async () => {
    const tmpl = await readFile(join(ROOT, 'deploy/alertmanager/templates/orderwire.tmpl'), 'utf8');
    const names = [...tmpl.matchAll(/define "([^"]+)"/g)].map((m) => m[1]!);
    expect(names).toEqual(expect.arrayContaining(['orderwire.slack.title', 'orderwire.slack.text', 'orderwire.email.subject', 'orderwire.email.html']));
    for (const name of names.filter((n) => n !== 'orderwire.runbook')) {
      const res = await runTool(
        'amtool',
        ['template', 'render', '--template.glob=deploy/alertmanager/templates/*.tmpl', `--template.text={{ template "${name}" . }}`],
        { cwd: ROOT, repoRoot: ROOT },
      );
      expect(res.code, `${name}: ${res.stderr}`).toBe(0);
    }
  });
});

/** Metrics of prometheus-nats-exporter's JetStream collector (collector/jsz.go), with their labels. */
const JSZ_SERVER_LABELS = ['server_id', 'server_name', 'cluster', 'domain', 'meta_leader', 'is_meta_leader'];
const JSZ_STREAM_LABELS = [...JSZ_SERVER_LABELS, 'account', 'account_id', 'stream_name', 'stream_leader', 'is_stream_leader'];
const JSZ_CONSUMER_LABELS = [...JSZ_STREAM_LABELS, 'consumer_name', 'consumer_leader', 'is_consumer_leader', 'consumer_desc', 'consumer_created'];
const JSZ_METRICS: Record<string, readonly string[]> = {
  jetstream_server_jetstream_disabled: JSZ_SERVER_LABELS,
  jetstream_server_total_streams: JSZ_SERVER_LABELS,
  jetstream_server_total_consumers: JSZ_SERVER_LABELS,
  jetstream_server_total_messages: JSZ_SERVER_LABELS,
  jetstream_server_total_message_bytes: JSZ_SERVER_LABELS,
  jetstream_server_max_memory: JSZ_SERVER_LABELS,
  jetstream_server_max_storage: JSZ_SERVER_LABELS,
  jetstream_stream_total_messages: JSZ_STREAM_LABELS,
  jetstream_stream_total_bytes: JSZ_STREAM_LABELS,
  jetstream_stream_first_seq: JSZ_STREAM_LABELS,
  jetstream_stream_last_seq: JSZ_STREAM_LABELS,
  jetstream_stream_consumer_count: JSZ_STREAM_LABELS,
  jetstream_consumer_delivered_consumer_seq: JSZ_CONSUMER_LABELS,
  jetstream_consumer_delivered_stream_seq: JSZ_CONSUMER_LABELS,
  jetstream_consumer_num_ack_pending: JSZ_CONSUMER_LABELS,
  jetstream_consumer_num_redelivered: JSZ_CONSUMER_LABELS,
  jetstream_consumer_num_waiting: JSZ_CONSUMER_LABELS,
  jetstream_consumer_num_pending: JSZ_CONSUMER_LABELS,
  jetstream_consumer_ack_floor_stream_seq: JSZ_CONSUMER_LABELS,
  jetstream_consumer_ack_floor_consumer_seq: JSZ_CONSUMER_LABELS,
};

describe('NATS exporter metric names', () => {
  let nats: NatsServerHandle;

  beforeAll(async () => {
    nats = await startNats();
  });

  afterAll(async () => {
    await nats?.dispose();
  });

  it('every gnatsd_varz_* metric is a numeric field of a real nats-server /varz (the exporter maps each to gnatsd_varz_<field>)', async () => {
    const res = await fetch(`${nats.monitorUrl}/varz`, { signal: AbortSignal.timeout(5_000) });
    const varz = (await res.json()) as Record<string, unknown>;
    const used = expected.external.filter((x) => x.name.startsWith('gnatsd_varz_'));
    expect(used.length).toBeGreaterThan(3);
    for (const m of used) {
      const field = m.name.slice('gnatsd_varz_'.length);
      expect(typeof varz[field], `${m.name}: /varz field "${field}"`).toBe('number');
      for (const u of m.uses) for (const matcher of u.matchers) expect(['server_id', 'job', 'instance'], m.name).toContain(matcher.name);
    }
  });

  it('every jetstream_* metric and the labels it is matched on come from the exporter JetStream collector', () => {
    const used = expected.external.filter((x) => x.name.startsWith('jetstream_'));
    expect(used.length).toBeGreaterThan(3);
    for (const m of used) {
      expect(Object.keys(JSZ_METRICS), m.name).toContain(m.name);
      for (const u of m.uses) {
        for (const matcher of u.matchers) {
          if (matcher.name === 'job' || matcher.name === 'instance') continue;
          expect(JSZ_METRICS[m.name], `${m.name}{${matcher.name}}`).toContain(matcher.name);
        }
      }
    }
  });
});
