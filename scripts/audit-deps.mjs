#!/usr/bin/env node
// Dependency audit for CI: `npm audit --omit=dev --json` (production dependencies only), failing
// on every advisory of severity `high` or `critical` that `.ci/audit-allowlist.json` does not
// excuse. An allowlist entry names one advisory (GHSA id), the package, why it is accepted, and
// an expiry date: past it the entry no longer excuses anything, so an accepted risk is re-read
// at least that often. Entries that match no current advisory are reported so they get removed.
//
// Usage: node scripts/audit-deps.mjs [--report <npm-audit.json>] [--allowlist <file>] [--level high|critical|moderate|low]
// Exit: 0 clean, 1 findings (or an invalid allowlist), 2 the audit itself could not run.
// CI runs it (.github/workflows/ci.yml); `npm test` does not: it needs the registry's audit
// endpoint, and `npm test` must pass offline (docs/security.md, "Supply chain").
// Built-ins only, like every script here.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './lib/repo.mjs';

/** Severities in rising order (npm's names). */
export const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'];
/** High — the level the issue asks CI to fail on. */
export const DEFAULT_LEVEL = 'high';
export const DEFAULT_ALLOWLIST = join(REPO_ROOT, '.ci', 'audit-allowlist.json');
/** Longest an allowlist entry may be valid for, in days: accepted risks are reviewed at least this often. */
export const MAX_ALLOWLIST_DAYS = 180;
const GHSA_RE = /GHSA(-[23456789cfghjmpqrvwx]{4}){3}/i;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/**
 * Validates the allowlist file's content. Returns the entries, or throws an Error listing every
 * problem (an unreadable allowlist must fail the build, never silently excuse everything).
 */
export function parseAllowlist(json, now = new Date()) {
  const problems = [];
  if (typeof json !== 'object' || json === null || !Array.isArray(json.entries)) {
    throw new Error('allowlist must be an object with an "entries" array');
  }
  const entries = json.entries.map((e, i) => {
    const at = `entries[${i}]`;
    if (typeof e !== 'object' || e === null) {
      problems.push(`${at} must be an object`);
      return undefined;
    }
    if (typeof e.advisory !== 'string' || !GHSA_RE.test(e.advisory)) problems.push(`${at}.advisory must be a GHSA id`);
    if (typeof e.package !== 'string' || e.package.length === 0) problems.push(`${at}.package is required`);
    if (typeof e.reason !== 'string' || e.reason.trim().length < 10) problems.push(`${at}.reason must say why (at least 10 characters)`);
    if (typeof e.expires !== 'string' || !DATE_RE.test(e.expires) || Number.isNaN(Date.parse(e.expires))) {
      problems.push(`${at}.expires must be a date YYYY-MM-DD`);
    } else if (Date.parse(e.expires) - now.getTime() > MAX_ALLOWLIST_DAYS * DAY_MS) {
      problems.push(`${at}.expires is more than ${MAX_ALLOWLIST_DAYS} days away`);
    }
    return { advisory: String(e.advisory).toUpperCase(), package: e.package, reason: e.reason, expires: e.expires };
  });
  if (problems.length > 0) throw new Error(`invalid allowlist:\n  - ${problems.join('\n  - ')}`);
  return entries;
}

/**
 * The advisories of an `npm audit --json` report (format 2) at or above `level`: one per
 * (advisory, package). Packages that are only vulnerable through another (`via` by name) are
 * skipped — the root package carries the advisory.
 */
export function advisoriesOf(report, level = DEFAULT_LEVEL) {
  if (typeof report !== 'object' || report === null || typeof report.vulnerabilities !== 'object') {
    throw new Error('not an npm audit --json report (no "vulnerabilities")');
  }
  const min = SEVERITIES.indexOf(level);
  if (min < 0) throw new Error(`unknown level ${level}; one of ${SEVERITIES.join(', ')}`);
  const found = new Map();
  for (const [name, vuln] of Object.entries(report.vulnerabilities)) {
    for (const via of vuln.via ?? []) {
      if (typeof via !== 'object' || via === null) continue;
      if (SEVERITIES.indexOf(via.severity) < min) continue;
      const id = (GHSA_RE.exec(String(via.url ?? ''))?.[0] ?? `npm-${via.source}`).toUpperCase();
      const pkg = via.name ?? name;
      found.set(`${id} ${pkg}`, { advisory: id, package: pkg, severity: via.severity, title: via.title ?? '', url: via.url ?? '', range: via.range ?? '' });
    }
  }
  return [...found.values()].sort((a, b) => a.package.localeCompare(b.package) || a.advisory.localeCompare(b.advisory));
}

/** Splits advisories into excused and failing; reports expired and unused allowlist entries. */
export function evaluate(advisories, entries, now = new Date()) {
  const today = now.toISOString().slice(0, 10);
  const live = entries.filter((e) => e.expires >= today);
  const expired = entries.filter((e) => e.expires < today);
  const excused = [];
  const failing = [];
  for (const a of advisories) {
    const entry = live.find((e) => e.advisory === a.advisory && e.package === a.package);
    if (entry === undefined) failing.push(a);
    else excused.push({ ...a, entry });
  }
  const unused = live.filter((e) => !advisories.some((a) => a.advisory === e.advisory && a.package === e.package));
  return { excused, failing, expired, unused };
}

function argValue(args, flag) {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** Runs `npm audit --omit=dev --json`; npm exits non-zero when it finds anything, so the JSON decides. */
function runNpmAudit() {
  const r = spawnSync('npm', ['audit', '--omit=dev', '--json'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw Object.assign(new Error(`npm audit produced no JSON (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`), { exitCode: 2 });
  }
  if (report.vulnerabilities === undefined) {
    throw Object.assign(new Error(`npm audit could not run: ${report.message ?? report.error?.summary ?? 'unknown error'}`), { exitCode: 2 });
  }
  return report;
}

export function main(args = process.argv.slice(2), now = new Date(), log = console) {
  const level = argValue(args, '--level') ?? DEFAULT_LEVEL;
  const allowlistPath = argValue(args, '--allowlist') ?? DEFAULT_ALLOWLIST;
  const reportPath = argValue(args, '--report');
  try {
    const entries = existsSync(allowlistPath) ? parseAllowlist(JSON.parse(readFileSync(allowlistPath, 'utf8')), now) : [];
    const report = reportPath === undefined ? runNpmAudit() : JSON.parse(readFileSync(reportPath, 'utf8'));
    const { excused, failing, expired, unused } = evaluate(advisoriesOf(report, level), entries, now);
    for (const e of expired) log.warn(`[audit] allowlist entry expired on ${e.expires}: ${e.advisory} ${e.package} — it excuses nothing now`);
    for (const e of unused) log.warn(`[audit] allowlist entry matches no current advisory (remove it): ${e.advisory} ${e.package}`);
    for (const a of excused) log.log(`[audit] allowed until ${a.entry.expires}: ${a.severity} ${a.advisory} ${a.package} — ${a.entry.reason}`);
    for (const a of failing) log.error(`[audit] ${a.severity} ${a.advisory} in ${a.package} ${a.range}: ${a.title} ${a.url}`);
    log.log(`[audit] ${failing.length} ${level}+ advisor${failing.length === 1 ? 'y' : 'ies'} in production dependencies, ${excused.length} allowed`);
    return failing.length === 0 ? 0 : 1;
  } catch (err) {
    log.error(`[audit] ${err.message}`);
    return err.exitCode ?? 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main());
