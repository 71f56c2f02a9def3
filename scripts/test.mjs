#!/usr/bin/env node
// `npm test`: everything CI checks, in one command, on a fresh clone.
//   install (npm ci if needed) → tools → dependency graph → build → lint + typecheck →
//   the scripts' own node tests → every package's vitest suite (two tracks at once, balanced by
//   measured suite durations, each track one package at a time — the integration tests start
//   real servers and CI has 2 cores).
// Every step runs even when an earlier one failed (except install/tools), so one run shows every
// problem. The last line is `N passed, N failed`, counting test files and check tasks.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureChromium, ensureTools } from './bootstrap-tools.mjs';
import { checkDependencyGraph, readWorkspace } from './check-deps.mjs';
import { REPO_ROOT, assertNodeVersion, ensureDependencies, run } from './lib/repo.mjs';
import { assignTracks, blockedByBuild } from './lib/test-tracks.mjs';
import { fileFailureReason } from './lib/vitest-report.mjs';

const P = '[test]';
const TURBO = join(REPO_ROOT, 'node_modules', '.bin', 'turbo');
const ESLINT = join(REPO_ROOT, 'node_modules', '.bin', 'eslint');
const CHECK_PACKAGES = join(REPO_ROOT, 'scripts', 'check-packages.mjs');
const LOG_DIR = join(REPO_ROOT, '.turbo', 'orderwire-test');
/** Relative to each package: vitest resolves it against the package root. Git-ignored (.turbo/). */
const VITEST_REPORT = join('.turbo', 'vitest-report.json');

/**
 * Step bounds: they catch a hung step, they are not the time budget. On an idle 2-core machine a
 * full run takes a fraction of them; a machine shared with other heavy work can be several times
 * slower, and a step killed for being slow reports nothing useful.
 */
const BUILD_TIMEOUT_MS = 10 * 60_000;
const CHECK_TIMEOUT_MS = 12 * 60_000;
const SCRIPT_TEST_TIMEOUT_MS = 3 * 60_000;
const PACKAGE_TEST_TIMEOUT_MS = 25 * 60_000;

const TURBO_ENV = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' };

const steps = []; // { name, ok, ms, detail }
const units = { passed: [], failed: [] }; // test files and check tasks: { kind, id, reason? }
let interrupted = false;

function banner(title) {
  console.log(`\n${P} ━━ ${title} ${'━'.repeat(Math.max(0, 60 - title.length))}`);
}

async function step(name, fn) {
  banner(name);
  const started = Date.now();
  let ok = false;
  let detail = '';
  try {
    const res = await fn();
    ok = res === true || res?.ok === true;
    detail = res?.detail ?? '';
  } catch (err) {
    detail = err.message;
    console.error(`${P} ${name}: ${err.stack ?? err}`);
  }
  steps.push({ name, ok, ms: Date.now() - started, detail });
  return ok;
}

/** Runs turbo with a summary file and returns the per-task results from it. */
async function turbo(args, timeoutMs, logName) {
  const lines = [];
  // Turbo's own flags go before `--`; everything after it is handed to each package's script.
  const split = args.includes('--') ? args.indexOf('--') : args.length;
  const argv = ['run', ...args.slice(0, split), '--summarize', '--continue=dependencies-successful', ...args.slice(split)];
  const res = await run(TURBO, argv, {
    env: TURBO_ENV,
    timeoutMs,
    onLine: (l) => lines.push(l),
  });
  mkdirSync(LOG_DIR, { recursive: true });
  const name = logName ?? args.slice(0, split).filter((a) => !a.startsWith('-')).join('-');
  writeFileSync(join(LOG_DIR, `${name}.log`), lines.join('\n'));
  // "Summary:    /abs/.turbo/runs/<id>.json" (turbo prints it after the tasks).
  const summaryLine = lines.map(stripAnsi).find((l) => /^\s*Summary:\s+\S+\.json\s*$/.test(l));
  const tasks = new Map();
  if (summaryLine) {
    const file = summaryLine.trim().replace(/^Summary:\s+/, '');
    try {
      const summary = JSON.parse(readFileSync(file, 'utf8'));
      for (const t of summary.tasks ?? []) {
        const exitCode = t.execution?.exitCode ?? (t.cache?.status === 'HIT' ? 0 : undefined);
        tasks.set(t.taskId, { package: t.package, task: t.task, exitCode });
      }
      rmSync(file, { force: true });
    } catch (err) {
      console.error(`${P} could not read turbo summary ${file}: ${err.message}`);
    }
  }
  return { code: res.code, timedOut: res.timedOut, tasks };
}

function stripAnsi(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}

/** Workspace packages that define `script`, by name → folder. */
function packagesWith(script) {
  const out = new Map();
  for (const p of readWorkspace(REPO_ROOT)) {
    const pkg = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'));
    if (pkg.scripts?.[script]) out.set(p.name, p.dir);
  }
  return out;
}

/** Counts each package × task of a turbo run as one check; a task that never ran is a failure. */
function recordTasks(label, tasksWanted, result) {
  let ok = result.code === 0 && !result.timedOut;
  const failed = [];
  for (const task of tasksWanted) {
    for (const pkg of packagesWith(task).keys()) {
      const t = result.tasks.get(`${pkg}#${task}`);
      const id = `${pkg}#${task}`;
      if (t && t.exitCode === 0) units.passed.push({ kind: 'check', id });
      else {
        const reason = result.timedOut
          ? 'step timed out before turbo wrote its summary'
          : !t
            ? 'not run'
            : t.exitCode === undefined
              ? 'not run (a dependency failed)'
              : `exit ${t.exitCode}`;
        units.failed.push({ kind: 'check', id, reason });
        failed.push(`${id} (${reason})`);
        ok = false;
      }
    }
  }
  return { ok, detail: failed.length ? `failed: ${failed.join(', ')}` : `${label} clean` };
}

/**
 * Every package's `lint` and `typecheck` (scripts/check-packages.mjs: the same checks as the
 * packages' scripts, one worker per core, each package's TypeScript program built once for both),
 * and ESLint over scripts/. A package whose dependencies did not build is not checked (turbo's
 * `^build`): its checks fail as "not run".
 */
async function runChecks(built) {
  const blocked = blockedByBuild(readWorkspace(REPO_ROOT), built, { needsOwnBuild: false });
  const wanted = [...new Set([...packagesWith('lint').keys(), ...packagesWith('typecheck').keys()])];
  const toCheck = wanted.filter((p) => !blocked.has(p));
  mkdirSync(LOG_DIR, { recursive: true });
  const report = join(LOG_DIR, 'checks.jsonl');
  rmSync(report, { force: true });
  const lines = [];
  const [checks, scripts] = await Promise.all([
    toCheck.length
      ? run(process.execPath, [CHECK_PACKAGES, '--report', report, ...toCheck], { timeoutMs: CHECK_TIMEOUT_MS, onLine: (l) => lines.push(l) })
      : { code: 0, timedOut: false },
    run(ESLINT, ['scripts'], { timeoutMs: CHECK_TIMEOUT_MS }),
  ]);
  writeFileSync(join(LOG_DIR, 'lint-typecheck.log'), lines.join('\n'));
  const done = new Map();
  if (existsSync(report)) {
    for (const line of readFileSync(report, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      done.set(`${r.package}#${r.task}`, r);
    }
  }
  const failed = [];
  for (const task of ['lint', 'typecheck']) {
    for (const pkg of packagesWith(task).keys()) {
      const id = `${pkg}#${task}`;
      const r = done.get(id);
      if (r?.ok) {
        units.passed.push({ kind: 'check', id });
        continue;
      }
      const reason = blocked.has(pkg)
        ? `not run (${blocked.get(pkg)})`
        : r
          ? (r.reason ?? 'failed')
          : checks.timedOut
            ? 'step timed out before it ran'
            : 'not run';
      units.failed.push({ kind: 'check', id, reason });
      failed.push(`${id} (${reason})`);
    }
  }
  if (scripts.code === 0) units.passed.push({ kind: 'check', id: 'eslint scripts' });
  else {
    const reason = scripts.timedOut ? 'timed out' : `exit ${scripts.code}`;
    units.failed.push({ kind: 'check', id: 'eslint scripts', reason });
    failed.push(`eslint scripts (${reason})`);
  }
  const ok = failed.length === 0 && checks.code === 0 && !checks.timedOut;
  return { ok, detail: failed.length ? `failed: ${failed.join(', ')}` : ok ? 'lint + typecheck clean' : `check runner exited ${checks.code}` };
}

async function runScriptTests() {
  const dir = join(REPO_ROOT, 'scripts', 'test');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.mjs')).sort() : [];
  const failed = [];
  for (const f of files) {
    if (interrupted) break;
    const id = `scripts/test/${f}`;
    console.log(`${P} node --test ${id}`);
    const { code, timedOut } = await run(process.execPath, ['--test', '--test-reporter=spec', join(dir, f)], {
      timeoutMs: SCRIPT_TEST_TIMEOUT_MS,
    });
    if (code === 0) units.passed.push({ kind: 'file', id });
    else {
      const reason = timedOut ? 'timed out' : `exit ${code}`;
      units.failed.push({ kind: 'file', id, reason });
      failed.push(id);
    }
  }
  return { ok: failed.length === 0, detail: `${files.length - failed.length}/${files.length} files passed` };
}

async function runPackageTests(built) {
  const wanted = packagesWith('test');
  for (const dir of wanted.values()) rmSync(join(dir, VITEST_REPORT), { force: true });
  const vitestArgs = ['--', '--reporter=default', '--reporter=json', `--outputFile.json=${VITEST_REPORT}`];
  // The build step built every package. `--only` runs just the test tasks: turbo puts the
  // arguments after `--` into every task's hash, so letting it resolve `test`'s dependency on
  // `build` would miss the cache and rebuild each package's dist/ while the other track's tests
  // are importing it. A package whose build did not succeed (its own, or a dependency's) is not
  // tested, as turbo's dependency would have it.
  const untestable = blockedByBuild(readWorkspace(REPO_ROOT), built, { needsOwnBuild: true });
  const blocked = [...wanted.keys()].filter((p) => untestable.has(p));
  const runnable = [...wanted.keys()].filter((p) => !untestable.has(p));
  // Two tracks at once, each one package at a time, balanced by measured suite durations
  // (scripts/lib/test-tracks.mjs): the step lasts as long as its longest track.
  const assignment = assignTracks(runnable);
  for (const [i, t] of assignment.entries()) {
    console.log(`${P} track ${i + 1} (~${t.seconds} s measured): ${t.packages.map((p) => p.replace('@orderwire/', '')).join(', ')}`);
  }
  if (blocked.length) console.log(`${P} not tested (the build failed): ${blocked.join(', ')}`);
  const tracks = assignment.map((t, i) =>
    turbo(['test', '--only', '--concurrency=1', '--output-logs=full', ...t.packages.map((p) => `--filter=${p}`), ...vitestArgs], PACKAGE_TEST_TIMEOUT_MS, `test-track-${i + 1}`),
  );
  const results = await Promise.all(tracks);
  const result = {
    code: results.find((r) => r.code !== 0)?.code ?? 0,
    timedOut: results.some((r) => r.timedOut),
    tasks: new Map(results.flatMap((r) => [...r.tasks])),
  };
  let files = 0;
  let failedFiles = 0;
  let tests = 0;
  let failedTests = 0;
  for (const [pkg, dir] of wanted) {
    const task = result.tasks.get(`${pkg}#test`);
    const reportFile = join(dir, VITEST_REPORT);
    let report = null;
    try {
      report = JSON.parse(readFileSync(reportFile, 'utf8'));
    } catch {
      // No report: vitest never ran (a dependency failed to build) or crashed before reporting.
    }
    let fileFailures = 0;
    for (const r of report?.testResults ?? []) {
      const id = `${pkg} ${relative(dir, r.name)}`;
      files++;
      if (r.status === 'passed') units.passed.push({ kind: 'file', id });
      else {
        fileFailures++;
        failedFiles++;
        units.failed.push({ kind: 'file', id, reason: fileFailureReason(r) });
      }
    }
    tests += report?.numTotalTests ?? 0;
    failedTests += report?.numFailedTests ?? 0;
    // Without turbo's summary (the step was killed) a complete, successful report is the evidence.
    const exitCode = task?.exitCode;
    const finishedOk = exitCode === 0 || (exitCode === undefined && report?.success === true);
    // A failing package with no failing file (no test files, an unhandled error, a timeout) still fails.
    if (!finishedOk && fileFailures === 0) {
      const reason = !report
        ? result.timedOut
          ? 'did not finish before the step time limit'
          : exitCode === undefined
            ? 'not run (it or a dependency failed to build)'
            : `vitest exited ${exitCode} without a report`
        : report.testResults?.length === 0
          ? 'no test files'
          : 'vitest failed outside test files (e.g. unhandled errors)';
      units.failed.push({ kind: 'file', id: `${pkg} (whole package)`, reason });
      failedFiles++;
    }
  }
  return {
    ok: result.code === 0 && !result.timedOut && failedFiles === 0,
    detail: `${files} files, ${tests} tests, ${failedTests} failed tests`,
  };
}

function summary(startedAt) {
  banner('summary');
  for (const s of steps) {
    console.log(`${P} ${s.ok ? '✓' : '✗'} ${s.name.padEnd(22)} ${(s.ms / 1000).toFixed(1).padStart(6)} s  ${s.detail}`);
  }
  if (units.failed.length) {
    console.log(`${P} failures:`);
    for (const f of units.failed) console.log(`${P}   ✗ ${f.id}${f.reason ? ` — ${f.reason}` : ''}`);
  }
  const count = (list, kind) => list.filter((u) => u.kind === kind).length;
  console.log(
    `${P} test files: ${count(units.passed, 'file')} passed, ${count(units.failed, 'file')} failed · ` +
      `checks (package tasks, dependency graph): ${count(units.passed, 'check')} passed, ${count(units.failed, 'check')} failed`,
  );
  console.log(`${P} logs: ${relative(REPO_ROOT, LOG_DIR)}/ · total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  const stepFailed = steps.some((s) => !s.ok);
  // A failed step always shows as a failure, even if it had no countable unit.
  const failed = Math.max(units.failed.length, stepFailed && units.failed.length === 0 ? 1 : 0);
  console.log(`${units.passed.length} passed, ${failed} failed`);
  return stepFailed || failed > 0 || interrupted ? 1 : 0;
}

async function main() {
  assertNodeVersion(P);
  const started = Date.now();
  process.on('SIGINT', () => (interrupted = true));
  process.on('SIGTERM', () => (interrupted = true));

  const installed = await step('install', async () => {
    const did = await ensureDependencies({ prefix: P });
    return { ok: true, detail: did ? 'npm ci' : 'node_modules current' };
  });
  const tooled =
    installed &&
    (await step('tools', async () => {
      const r = await ensureTools();
      if (!r.ok) console.error(`${P} ${r.message.split('\n').join(`\n${P} `)}`);
      // Only the browser tests need it; they fail with this message when it is missing.
      const browser = await ensureChromium();
      if (!browser.ok) console.error(`${P} ${browser.message}`);
      return { ok: r.ok, detail: r.ok ? Object.entries(r.tools).map(([n, t]) => `${n} ${t.version}`).join(', ') : r.message.split('\n')[0] };
    }));
  if (installed && tooled) {
    await step('dependency graph', () => {
      const { packages, violations } = checkDependencyGraph(REPO_ROOT);
      for (const v of violations) console.error(`${P} ✗ ${v}`);
      const id = 'dependency graph (scripts/check-deps.mjs)';
      if (violations.length) units.failed.push({ kind: 'check', id, reason: `${violations.length} violation(s)` });
      else units.passed.push({ kind: 'check', id });
      return { ok: violations.length === 0, detail: violations.length ? `${violations.length} violation(s)` : `${packages.length} packages OK` };
    });
    let built = new Map();
    if (!interrupted)
      await step('build', async () => {
        const res = await turbo(['build', '--output-logs=errors-only'], BUILD_TIMEOUT_MS);
        built = res.tasks;
        return recordTasks('build', ['build'], res);
      });
    if (!interrupted) await step('lint + typecheck', () => runChecks(built));
    if (!interrupted) await step('scripts tests', runScriptTests);
    if (!interrupted) await step('package tests', () => runPackageTests(built));
  }
  if (interrupted) console.log(`${P} interrupted`);
  const code = summary(started);
  // The closing count is the last line humans and CI logs show.
  process.stdout.write('', () => process.exit(code));
}

await main();
