/**
 * Checks that the `promtool test rules` files cover every rule: each alert has a case where
 * it fires and a case where it must not, and each recording rule is evaluated by a
 * `promql_expr_test`. promtool itself only runs what is written; this finds what is not.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CheckError, CheckErrorCode } from './errors.js';
import { extractMetricNames } from './promql.js';
import type { LoadedRule } from './rules.js';

export interface RuleTestCoverage {
  /** Alerts without a case expecting them to fire. */
  readonly neverFires: readonly string[];
  /** Alerts without a case expecting them NOT to fire (`exp_alerts: []`). */
  readonly neverSilent: readonly string[];
  /** Recording rules no `promql_expr_test` reads. */
  readonly untestedRecords: readonly string[];
  /** Test cases naming an alert no rule defines. */
  readonly unknownAlerts: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface RuleTestFile {
  readonly file: string;
  readonly text: string;
}

export async function loadRuleTests(dir: string): Promise<RuleTestFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new CheckError(CheckErrorCode.NotFound, `rule tests directory ${dir} cannot be read`, { cause: err });
  }
  const files = names.filter((n) => /\.ya?ml$/.test(n)).sort();
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(dir, file), 'utf8') })));
}

export function ruleTestCoverage(rules: readonly LoadedRule[], tests: readonly RuleTestFile[]): RuleTestCoverage {
  const fires = new Set<string>();
  const silent = new Set<string>();
  const exprMetrics = new Set<string>();
  const named = new Set<string>();
  for (const t of tests) {
    let doc: unknown;
    try {
      doc = parse(t.text);
    } catch (err) {
      throw new CheckError(CheckErrorCode.RulesInvalid, `${t.file}: not valid YAML`, { cause: err });
    }
    if (!isObject(doc) || !Array.isArray(doc.tests)) {
      throw new CheckError(CheckErrorCode.RulesInvalid, `${t.file}: not a promtool test file (no "tests" list)`);
    }
    for (const test of doc.tests) {
      if (!isObject(test)) continue;
      for (const a of Array.isArray(test.alert_rule_test) ? test.alert_rule_test : []) {
        if (!isObject(a) || typeof a.alertname !== 'string') continue;
        named.add(a.alertname);
        const exp = Array.isArray(a.exp_alerts) ? a.exp_alerts : [];
        (exp.length > 0 ? fires : silent).add(a.alertname);
      }
      for (const p of Array.isArray(test.promql_expr_test) ? test.promql_expr_test : []) {
        if (!isObject(p) || typeof p.expr !== 'string') continue;
        for (const m of extractMetricNames(p.expr)) exprMetrics.add(m.raw);
      }
    }
  }
  const alerts = rules.filter((r) => r.kind === 'alert').map((r) => r.name);
  const alertSet = new Set(alerts);
  return {
    neverFires: alerts.filter((a) => !fires.has(a)),
    neverSilent: alerts.filter((a) => !silent.has(a)),
    untestedRecords: rules.filter((r) => r.kind === 'record' && !exprMetrics.has(r.name)).map((r) => r.name),
    unknownAlerts: [...named].filter((n) => !alertSet.has(n)).sort(),
  };
}
