import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckErrorCode,
  documentedMetrics,
  expectedMetricsFrom,
  locateTool,
  markdownAnchors,
  parseDashboard,
  parseRules,
  ruleTestCoverage,
  undocumentedMetrics,
  validateAlertmanager,
  validateDashboards,
  validateRules,
} from '../src/index.js';
import { dashboard, dashboardJson, rules } from './fixtures.js';

describe('validateDashboards', () => {
  it('accepts a well-formed dashboard', () => {
    expect(validateDashboards([dashboard('ok', [{ title: 'A', exprs: ['sum(orderwire_edge_connections)'] }])])).toEqual([]);
  });

  it('finds panels without a query, with an empty or metric-less query, or with another datasource', () => {
    const d = dashboard('bad', [
      { title: 'No query', exprs: [] },
      { title: 'Empty expr', exprs: [''] },
      { title: 'Constant', exprs: ['vector(1)'] },
      { title: 'Hard-coded ds', exprs: ['up'], datasource: { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' } },
      { title: 'Broken', exprs: ['sum(rate(x[5m])'] },
      { title: 'Notes', exprs: [], type: 'text' },
    ]);
    const problems = validateDashboards([d]).map((p) => `${p.where}: ${p.problem}`);
    expect(problems).toEqual([
      'No query: panel has no (visible) query',
      'Empty expr [A]: query with an empty expr',
      'Constant [A]: query reads no metric: vector(1)',
      'Hard-coded ds: panel datasource must be ${datasource}',
      'Hard-coded ds [A]: query datasource must be ${datasource}',
      expect.stringMatching(/^Broken \[A\]: ORDERWIRE_ERR_OBSCHECK_PROMQL_SYNTAX: unbalanced \(/) as unknown as string,
    ]);
  });

  it('finds dashboard-level problems: uid, duplicate uid, schemaVersion, datasource variable, duplicate panel ids', () => {
    const json = dashboardJson('Bad UID', [{ title: 'A', exprs: ['up'] }]);
    json.schemaVersion = 27;
    json.templating = { list: [] };
    (json.panels as Array<Record<string, unknown>>).push({ ...(json.panels as Array<Record<string, unknown>>)[0], title: 'B' });
    const d = parseDashboard('x.json', JSON.stringify(json));
    const twin1 = dashboard('twin', [{ title: 'A', exprs: ['up'] }]);
    const twin2 = { ...twin1, file: 'twin2.json' };
    const problems = validateDashboards([d, twin1, twin2]).map((p) => p.problem);
    expect(problems).toEqual([
      'uid "Bad UID" is missing or not [a-z0-9-]{1,40}',
      'schemaVersion 27 < 39',
      'needs a template variable "datasource" of type datasource with query "prometheus"',
      'duplicate panel id 1',
      'uid twin is also used by twin.json',
    ]);
  });

  it('checks query variables use the datasource variable and parse', () => {
    const d = dashboard('v', [{ title: 'A', exprs: ['up'] }], [
      { name: 'instance', type: 'query', datasource: { uid: 'other' }, query: 'label_values(up, instance)' },
      { name: 'broken', type: 'query', datasource: { uid: '${datasource}' }, query: { query: 'label_values(up{job="x, instance)' } },
    ]);
    expect(validateDashboards([d]).map((p) => `${p.where}: ${p.problem}`)).toEqual([
      'variable instance: datasource must be ${datasource}',
      expect.stringMatching(/^variable broken: ORDERWIRE_ERR_OBSCHECK_PROMQL_SYNTAX/) as unknown as string,
    ]);
  });

  it('rejects a file that is not a dashboard, with a stable code', () => {
    expect(() => parseDashboard('a.json', '{')).toThrow(expect.objectContaining({ code: CheckErrorCode.DashboardInvalid }));
    expect(() => parseDashboard('a.json', '{"title":"x"}')).toThrow(/no "panels" array/);
  });

  it('includes the panels of collapsed rows', () => {
    const d = parseDashboard(
      'r.json',
      JSON.stringify({ panels: [{ id: 1, type: 'row', title: 'R', collapsed: true, panels: [{ id: 2, type: 'stat', title: 'In row', targets: [{ refId: 'A', expr: 'x' }] }] }] }),
    );
    expect(d.panels.map((p) => p.title)).toEqual(['R', 'In row']);
  });
});

const RUNBOOK = `# Runbook

## Commands

\`\`\`sh
# NotAHeading
\`\`\`

## OrderwireGood

## Orderwire Good: the sequel!

## Orderwire Good: the sequel!

<a id="custom-anchor"></a>
`;

describe('markdownAnchors', () => {
  it('makes GitHub slugs, numbers repeats, reads explicit anchors, skips code fences', () => {
    expect([...markdownAnchors(RUNBOOK)].sort()).toEqual(
      ['commands', 'custom-anchor', 'orderwire-good-the-sequel', 'orderwire-good-the-sequel-1', 'orderwiregood', 'runbook'].sort(),
    );
  });
});

describe('validateRules', () => {
  const alert = (name: string, extra: string): string => `
groups:
  - name: g
    rules:
      - alert: ${name}
        expr: up == 0
${extra}`;

  it('accepts an alert with severity, service, annotations and an existing runbook anchor', () => {
    const ok = alert(
      'OrderwireGood',
      `        labels: { severity: page, service: edge }
        annotations: { summary: s, description: d, runbook_url: docs/runbook.md#orderwiregood }`,
    );
    expect(validateRules(rules(ok), RUNBOOK)).toEqual([]);
    const absolute = ok.replace('docs/runbook.md#', 'https://github.com/o/r/blob/main/docs/runbook.md#');
    expect(validateRules(rules(absolute), RUNBOOK)).toEqual([]);
  });

  it('finds a missing or unknown severity, service, annotation, runbook link or anchor', () => {
    const bad = alert(
      'Bad',
      `        labels: { severity: critical }
        annotations: { summary: s, runbook_url: docs/runbook.md#missing }`,
    );
    const noLink = alert('NoLink', `        labels: { severity: ticket, service: x }
        annotations: { summary: s, description: d, runbook_url: https://wiki/page }`);
    expect(validateRules([...rules(bad), ...rules(noLink)], RUNBOOK).map((p) => `${p.rule}: ${p.problem}`)).toEqual([
      'Bad: severity label must be one of page, ticket (is critical)',
      'Bad: service label missing',
      'Bad: annotation description missing',
      'Bad: runbook anchor #missing does not exist in docs/runbook.md',
      'NoLink: runbook_url https://wiki/page does not point at docs/runbook.md#<anchor>',
    ]);
  });

  it('finds a recording rule name without colons and an alert name used twice', () => {
    const text = `
groups:
  - name: g
    rules:
      - record: plain_name
        expr: sum(x)
      - alert: Twice
        expr: x > 1
        labels: { severity: page, service: s }
        annotations: { summary: s, description: d, runbook_url: docs/runbook.md#orderwiregood }
      - alert: Twice
        expr: x > 2
        labels: { severity: page, service: s }
        annotations: { summary: s, description: d, runbook_url: docs/runbook.md#orderwiregood }
`;
    expect(validateRules(rules(text), RUNBOOK).map((p) => `${p.rule}: ${p.problem}`)).toEqual([
      'plain_name: recording rule name should be level:metric:operations (no colon found)',
      'Twice: alert name used twice',
    ]);
  });

  it('rejects files that are not rule files', () => {
    expect(() => parseRules('r.yml', 'groups: [')).toThrow(expect.objectContaining({ code: CheckErrorCode.RulesInvalid }));
    expect(() => parseRules('r.yml', 'foo: 1')).toThrow(/no "groups" list/);
    expect(() => parseRules('r.yml', 'groups: [{ name: g, rules: [{ alert: A, record: b, expr: x }] }]')).toThrow(/exactly one of alert\/record/);
  });
});

describe('ruleTestCoverage', () => {
  const RULES = `
groups:
  - name: g
    rules:
      - record: job:x:rate5m
        expr: sum(rate(x[5m]))
      - record: job:y:rate5m
        expr: sum(rate(y[5m]))
      - alert: A
        expr: job:x:rate5m > 1
      - alert: B
        expr: y > 1
`;
  it('lists alerts never fired or never silent, untested recording rules and unknown alert names', () => {
    const tests = `
tests:
  - input_series: []
    alert_rule_test:
      - { eval_time: 1m, alertname: A, exp_alerts: [{ exp_labels: {} }] }
      - { eval_time: 1m, alertname: A, exp_alerts: [] }
      - { eval_time: 1m, alertname: B }
      - { eval_time: 1m, alertname: Ghost, exp_alerts: [] }
    promql_expr_test:
      - { expr: 'round(job:x:rate5m * 1e6)', eval_time: 1m, exp_samples: [] }
`;
    expect(ruleTestCoverage(rules(RULES), [{ file: 't.yml', text: tests }])).toEqual({
      neverFires: ['B'],
      neverSilent: [],
      untestedRecords: ['job:y:rate5m'],
      unknownAlerts: ['Ghost'],
    });
  });
});

describe('documentedMetrics', () => {
  const DOC = `
| metric | type |
|---|---|
| \`orderwire_a_total\` | counter |
| \`orderwire_node_*\` | mixed |
| \`gnatsd_varz_in_msgs\` / \`gnatsd_varz_out_msgs\` | x |
Text mentioning \`orderwire_prose_only\` is not a definition.
`;
  it('reads backticked names in first table cells, and prefixes ending in *', () => {
    const d = documentedMetrics(DOC);
    expect([...d.names].sort()).toEqual(['gnatsd_varz_in_msgs', 'gnatsd_varz_out_msgs', 'orderwire_a_total']);
    expect(d.prefixes).toEqual(['orderwire_node_']);
  });

  it('lists expected metrics missing from the page', () => {
    const e = expectedMetricsFrom({
      dashboards: [
        dashboard('d', [
          { title: 'x', exprs: ['orderwire_a_total + orderwire_node_process_cpu_seconds_total{service="auth"} + orderwire_prose_only_total{service="auth"}'] },
        ]),
      ],
      rules: [],
    });
    expect(undocumentedMetrics(e, DOC)).toEqual(['orderwire_prose_only_total']);
  });
});

describe('validateAlertmanager', () => {
  it('flags inline secrets and inhibitions of alerts that do not exist', () => {
    const text = `
global:
  slack_api_url: https://hooks.slack.com/services/T/B/X
  smtp_auth_password_file: /etc/secret
receivers:
  - name: r
    slack_configs:
      - api_url_file: /etc/x
    email_configs:
      - to: a@b.example
        auth_password: hunter2
inhibit_rules:
  - source_matchers: [alertname="Known"]
    target_matchers: ['alertname=~"Known|Unknown"']
`;
    expect(validateAlertmanager(text, new Set(['Known'])).map((p) => `${p.path}: ${p.problem}`)).toEqual([
      'global.slack_api_url: secret written inline; use slack_api_url_file and mount the secret',
      'receivers[0].email_configs[0].auth_password: secret written inline; use auth_password_file and mount the secret',
      'inhibit_rules[0].target_matchers[0]: matches alertname Unknown, which no rule defines',
    ]);
  });
});

describe('locateTool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ow-tools-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with a message that says how to install the tool', () => {
    expect(() => locateTool('promtool', { env: { PATH: dir }, repoRoot: dir })).toThrow(
      expect.objectContaining({ code: CheckErrorCode.ToolNotFound, message: expect.stringContaining('npm run tools') as unknown }),
    );
    expect(() => locateTool('amtool', { env: { ORDERWIRE_AMTOOL: join(dir, 'nope') } })).toThrow(/ORDERWIRE_AMTOOL=.*not an executable/);
  });

  it('prefers the env override, then <repo>/.tools/bin, then PATH', async () => {
    const exe = join(dir, 'promtool');
    await writeFile(exe, '#!/bin/sh\nexit 0\n');
    await chmod(exe, 0o755);
    expect(locateTool('promtool', { env: { ORDERWIRE_PROMTOOL: exe }, repoRoot: '/nonexistent' })).toBe(exe);
    expect(locateTool('promtool', { env: { PATH: dir }, repoRoot: '/nonexistent' })).toBe(exe);
  });
});
