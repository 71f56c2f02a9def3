/**
 * The command line, as a function of argv and two writers, so tests run it in-process.
 * `src/cli.ts` wires it to the process.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { CheckError, CheckErrorCode } from './errors.js';
import { expectedMetrics, type ExpectedMetrics } from './expected.js';
import { DEFAULT_SCRAPE_TIMEOUT_MS, missingMetrics, scrapeMetrics, type MetricProblem, type ScrapeTarget } from './missing.js';
import { LAYOUT, runStaticChecks } from './static-checks.js';
import { findRepoRoot } from './tools.js';

export const CLI_USAGE = `usage: node dist/cli.js <command> [options]

  expected                       the metrics dashboards and rules read, by service that must export them
  check --metrics-url <url> ...  scrape each /metrics and fail if a metric a panel or rule reads is missing
      --metrics-url [svc=]<url>  repeatable; "edge=http://127.0.0.1:3003/metrics" forces the service,
                                 otherwise the text's own service label decides
      --allow-no-samples         a metric declared without series yet counts as present
      --timeout <ms|Ns>          per scrape (default ${DEFAULT_SCRAPE_TIMEOUT_MS} ms)
  lint                           static checks: dashboards, rules, runbook anchors, docs/metrics.md,
                                 promtool rule-test coverage, Alertmanager config, promtool + amtool
      --no-tools                 skip promtool and amtool

common options:
  --root <dir>        repository root (default: found by walking up to turbo.json)
  --dashboards <dir>  default <root>/${LAYOUT.dashboards}
  --rules <dir>       default <root>/${LAYOUT.rules}
  --json              machine-readable output

exit codes: 0 ok, 1 problems found, 2 usage or setup error`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** @default process.cwd() */
  cwd?: string;
}

interface Args {
  command: string | undefined;
  flags: Map<string, string[]>;
}

const BOOLEAN_FLAGS = new Set(['json', 'allow-no-samples', 'no-tools', 'help']);

function parseArgs(argv: readonly string[]): Args {
  const flags = new Map<string, string[]>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else if (BOOLEAN_FLAGS.has(name)) value = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw usage(`--${name} needs a value`);
        value = next;
        i++;
      }
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else if (command === undefined) {
      command = a;
    } else {
      throw usage(`unexpected argument ${a}`);
    }
  }
  return { command, flags };
}

function usage(reason: string): CheckError {
  return new CheckError(CheckErrorCode.Usage, reason);
}

function one(args: Args, name: string): string | undefined {
  const v = args.flags.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

function parseTimeout(text: string): number {
  const m = /^(\d+)(ms|s)?$/.exec(text);
  if (!m) throw usage(`--timeout ${text}: use milliseconds or <N>s`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function parseTarget(text: string): ScrapeTarget {
  const m = /^([a-z][a-z0-9-]*)=(https?:\/\/.+)$/.exec(text);
  const url = m ? m[2]! : text;
  if (!/^https?:\/\//.test(url)) throw usage(`--metrics-url ${text}: not an http(s) URL`);
  return m ? { url, service: m[1]! } : { url };
}

function formatExpected(e: ExpectedMetrics): string[] {
  const lines: string[] = [];
  for (const service of Object.keys(e.byService).sort()) {
    lines.push(`${service}:`);
    for (const name of e.byService[service]!) lines.push(`  ${name}`);
  }
  if (e.anyService.length > 0) {
    lines.push('any service (at least one):');
    for (const name of e.anyService) lines.push(`  ${name}`);
  }
  if (e.external.length > 0) {
    lines.push('external (not checked against the services):');
    for (const x of e.external) lines.push(`  ${x.name} (${x.source})`);
  }
  if (e.recordingRules.length > 0) {
    lines.push('recording rules (resolved through their expressions):');
    for (const r of e.recordingRules) lines.push(`  ${r}`);
  }
  for (const u of e.unresolved) lines.push(`UNRESOLVED ${u.name}: ${u.reason}`);
  return lines;
}

function formatProblem(p: MetricProblem): string {
  const where = p.usedBy.length > 0 ? `\n      used by: ${p.usedBy.join('; ')}` : '';
  return `  [${p.kind}] ${p.message}${where}`;
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.err((err as Error).message);
    io.err(CLI_USAGE);
    return 2;
  }
  if (args.command === undefined || args.flags.has('help') || args.command === 'help') {
    if (args.command === undefined) {
      io.err(CLI_USAGE);
      return 2;
    }
    io.out(CLI_USAGE);
    return 0;
  }
  const json = args.flags.has('json');
  const cwd = io.cwd ?? process.cwd();
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));
  try {
    const rootFlag = one(args, 'root');
    const root = rootFlag !== undefined ? abs(rootFlag) : (findRepoRoot(cwd) ?? findRepoRoot());
    if (root === undefined) throw usage('cannot find the repository root (no turbo.json above); pass --root');
    const dashboardsDir = abs(one(args, 'dashboards') ?? join(root, LAYOUT.dashboards));
    const rulesDir = abs(one(args, 'rules') ?? join(root, LAYOUT.rules));

    switch (args.command) {
      case 'expected': {
        const e = await expectedMetrics({ dashboardsDir, rulesDir });
        if (json) io.out(JSON.stringify(e, null, 2));
        else for (const l of formatExpected(e)) io.out(l);
        return e.unresolved.length > 0 ? 1 : 0;
      }
      case 'check': {
        const urls = args.flags.get('metrics-url') ?? [];
        if (urls.length === 0) throw usage('check needs at least one --metrics-url');
        const targets = urls.map(parseTarget);
        const timeout = one(args, 'timeout');
        const [e, scraped] = await Promise.all([
          expectedMetrics({ dashboardsDir, rulesDir }),
          scrapeMetrics(targets, timeout === undefined ? DEFAULT_SCRAPE_TIMEOUT_MS : parseTimeout(timeout)),
        ]);
        const problems = missingMetrics(e, scraped, { requireSamples: !args.flags.has('allow-no-samples') });
        const ok = problems.length === 0 && e.unresolved.length === 0;
        if (json) {
          io.out(JSON.stringify({ ok, problems, unresolved: e.unresolved, checked: e.metrics.length }, null, 2));
        } else {
          for (const u of e.unresolved) io.out(`  [unresolved] ${u.name}: ${u.reason}`);
          for (const p of problems) io.out(formatProblem(p));
          io.out(
            ok
              ? `ok: all ${e.metrics.length} metrics read by dashboards and rules are exported (${targets.length} targets)`
              : `FAILED: ${problems.length + e.unresolved.length} problems over ${e.metrics.length} expected metrics`,
          );
        }
        return ok ? 0 : 1;
      }
      case 'lint': {
        const results = await runStaticChecks({ root, tools: !args.flags.has('no-tools') });
        const ok = results.every((r) => r.problems.length === 0);
        if (json) io.out(JSON.stringify({ ok, results }, null, 2));
        else {
          for (const r of results) {
            io.out(`${r.problems.length === 0 ? 'ok  ' : 'FAIL'} ${r.check}`);
            for (const p of r.problems) io.out(`       ${p.replace(/\n/g, '\n       ')}`);
          }
        }
        return ok ? 0 : 1;
      }
      default:
        throw usage(`unknown command ${args.command}`);
    }
  } catch (err) {
    io.err((err as Error).message);
    if (err instanceof CheckError && err.code === CheckErrorCode.Usage) io.err(CLI_USAGE);
    return 2;
  }
}
