export { CheckError, CheckErrorCode } from './errors.js';
export { extractMetricNames, extractSelectors, extractVariableSelectors, SERIES_SUFFIXES } from './promql.js';
export type { ExtractedMetric, ExtractedSelector, LabelMatcher, MatchOp } from './promql.js';
export {
  loadDashboards,
  parseDashboard,
  validateDashboards,
  DATASOURCE_VARIABLE,
  DATASOURCE_UID,
  MIN_SCHEMA_VERSION,
} from './dashboards.js';
export type { LoadedDashboard, DashboardPanel, DashboardQuery, DashboardVariable, DashboardProblem, DatasourceRef } from './dashboards.js';
export {
  loadRules,
  parseRules,
  validateRules,
  markdownAnchors,
  runbookAnchor,
  SEVERITIES,
  REQUIRED_ANNOTATIONS,
  RUNBOOK_PATH,
} from './rules.js';
export type { LoadedRule, RuleProblem } from './rules.js';
export { expectedMetrics, expectedMetricsFrom, SERVICES, DEFAULT_OWNERSHIP, EXTERNAL_SOURCES } from './expected.js';
export type {
  ExpectedMetrics,
  ExpectedMetric,
  ExpectedMetricsOptions,
  MetricSources,
  MetricUse,
  ExternalMetric,
  ExternalSource,
  UnresolvedMetric,
  OwnershipRule,
  Requirement,
  ServiceName,
} from './expected.js';
export { parseExposition, dominantService } from './exposition.js';
export type { Exposition, MetricFamily, MetricType, Sample } from './exposition.js';
export { missingMetrics, scrapeMetrics, TARGET_LABELS, DEFAULT_SCRAPE_TIMEOUT_MS } from './missing.js';
export type { MetricProblem, MetricProblemKind, MissingMetricsOptions, ScrapedInput, ScrapeTarget } from './missing.js';
export { documentedMetrics, undocumentedMetrics } from './docs.js';
export type { DocumentedMetrics } from './docs.js';
export { validateAlertmanager, INLINE_SECRET_KEYS } from './alertmanager.js';
export type { AlertmanagerProblem } from './alertmanager.js';
export { loadRuleTests, ruleTestCoverage } from './rule-tests.js';
export type { RuleTestCoverage, RuleTestFile } from './rule-tests.js';
export { locateTool, runTool, findRepoRoot, TOOL_ENV, DEFAULT_TOOL_TIMEOUT_MS } from './tools.js';
export type { ToolName, ToolResult, ToolSearch, RunToolOptions } from './tools.js';
export { runCli, CLI_USAGE } from './cli-run.js';
export type { CliIo } from './cli-run.js';
export { runStaticChecks, runToolChecks, LAYOUT } from './static-checks.js';
export type { CheckResult, StaticCheckOptions } from './static-checks.js';
