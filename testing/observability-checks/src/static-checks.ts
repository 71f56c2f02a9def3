/**
 * Every check that needs no running service, over the repository layout: dashboards, rules and
 * their metadata, runbook anchors, docs/metrics.md, promtool rule-test coverage, the
 * Alertmanager config, and (optionally) promtool / amtool themselves.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateAlertmanager } from './alertmanager.js';
import { loadDashboards, validateDashboards } from './dashboards.js';
import { undocumentedMetrics } from './docs.js';
import { CheckError, CheckErrorCode } from './errors.js';
import { expectedMetricsFrom } from './expected.js';
import { loadRuleTests, ruleTestCoverage } from './rule-tests.js';
import { loadRules, validateRules } from './rules.js';
import { runTool, type ToolResult } from './tools.js';

/** Where the observability config lives, relative to the repository root. */
export const LAYOUT = Object.freeze({
  dashboards: 'deploy/grafana/dashboards',
  rules: 'deploy/prometheus/rules',
  ruleTests: 'deploy/prometheus/tests',
  prometheusConfigs: ['deploy/prometheus/prometheus.yml', 'deploy/prometheus/prometheus-k8s.yml'],
  alertmanager: 'deploy/alertmanager/alertmanager.yml',
  runbook: 'docs/runbook.md',
  metricsDoc: 'docs/metrics.md',
});

export interface CheckResult {
  readonly check: string;
  readonly problems: readonly string[];
}

export interface StaticCheckOptions {
  readonly root: string;
  /** Also run promtool and amtool. @default true */
  readonly tools?: boolean;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CheckError(CheckErrorCode.NotFound, `${path} cannot be read`, { cause: err });
  }
}

function toolProblems(r: ToolResult): string[] {
  if (r.timedOut) return [`${r.command}: timed out`];
  if (r.code === 0) return [];
  return [`${r.command} exited ${String(r.code)}:\n${(r.stdout + r.stderr).trim()}`];
}

/** The promtool / amtool invocations of {@link runStaticChecks}, relative to the root. */
export async function runToolChecks(root: string): Promise<CheckResult[]> {
  const rules = await loadRules(join(root, LAYOUT.rules));
  const ruleFiles = [...new Set(rules.map((r) => join(LAYOUT.rules, r.file)))];
  const tests = (await loadRuleTests(join(root, LAYOUT.ruleTests))).map((t) => join(LAYOUT.ruleTests, t.file));
  const opts = { cwd: root, repoRoot: root };
  const results: CheckResult[] = [];
  results.push({ check: 'promtool check rules', problems: toolProblems(await runTool('promtool', ['check', 'rules', ...ruleFiles], opts)) });
  results.push({ check: 'promtool test rules', problems: toolProblems(await runTool('promtool', ['test', 'rules', ...tests], opts)) });
  for (const config of LAYOUT.prometheusConfigs) {
    results.push({
      check: `promtool check config ${config}`,
      problems: toolProblems(await runTool('promtool', ['check', 'config', config], opts)),
    });
  }
  results.push({
    check: 'amtool check-config',
    problems: toolProblems(await runTool('amtool', ['check-config', LAYOUT.alertmanager], opts)),
  });
  return results;
}

export async function runStaticChecks(options: StaticCheckOptions): Promise<CheckResult[]> {
  const { root } = options;
  const [dashboards, rules, runbook, metricsDoc, ruleTests, alertmanager] = await Promise.all([
    loadDashboards(join(root, LAYOUT.dashboards)),
    loadRules(join(root, LAYOUT.rules)),
    readText(join(root, LAYOUT.runbook)),
    readText(join(root, LAYOUT.metricsDoc)),
    loadRuleTests(join(root, LAYOUT.ruleTests)),
    readText(join(root, LAYOUT.alertmanager)),
  ]);
  const results: CheckResult[] = [];
  results.push({
    check: 'dashboards',
    problems: validateDashboards(dashboards).map((p) => `${p.file}${p.where === undefined ? '' : ` / ${p.where}`}: ${p.problem}`),
  });
  results.push({ check: 'rules', problems: validateRules(rules, runbook).map((p) => `${p.file} / ${p.rule}: ${p.problem}`) });
  const expected = expectedMetricsFrom({ dashboards, rules });
  results.push({
    check: 'metric references',
    problems: expected.unresolved.map(
      (u) => `${u.name}: ${u.reason} (used by ${[...new Set(u.uses.map((x) => `${x.file}: ${x.title}`))].join('; ')})`,
    ),
  });
  results.push({
    check: LAYOUT.metricsDoc,
    problems: undocumentedMetrics(expected, metricsDoc).map((n) => `${n} is used by a dashboard or rule but not documented`),
  });
  const coverage = ruleTestCoverage(rules, ruleTests);
  results.push({
    check: 'rule test coverage',
    problems: [
      ...coverage.neverFires.map((a) => `${a}: no promtool test expects it to fire`),
      ...coverage.neverSilent.map((a) => `${a}: no promtool test expects it to stay silent (exp_alerts: [])`),
      ...coverage.untestedRecords.map((r) => `${r}: no promql_expr_test reads this recording rule`),
      ...coverage.unknownAlerts.map((a) => `${a}: tested, but no rule defines it`),
    ],
  });
  const alertNames = new Set(rules.filter((r) => r.kind === 'alert').map((r) => r.name));
  results.push({
    check: LAYOUT.alertmanager,
    problems: validateAlertmanager(alertmanager, alertNames).map((p) => `${p.path}: ${p.problem}`),
  });
  if (options.tools ?? true) results.push(...(await runToolChecks(root)));
  return results;
}
