import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { advisoriesOf, evaluate, main, parseAllowlist } from '../audit-deps.mjs';

const NOW = new Date('2026-12-06T12:00:00Z');
const GHSA_A = 'GHSA-2p57-rm9w-gvfp';
const GHSA_B = 'GHSA-c2qf-rxjj-qqgw';

/** An `npm audit --json` (format 2) report: a direct vulnerable package and one affected through it. */
function report(severityA = 'high') {
  return {
    auditReportVersion: 2,
    vulnerabilities: {
      ip: {
        name: 'ip',
        severity: severityA,
        isDirect: false,
        via: [{ source: 1, name: 'ip', dependency: 'ip', title: 'SSRF in ip', url: `https://github.com/advisories/${GHSA_A}`, severity: severityA, range: '<2.0.1' }],
        effects: ['socks'],
      },
      socks: { name: 'socks', severity: severityA, isDirect: true, via: ['ip'], effects: [] },
      semver: {
        name: 'semver',
        severity: 'moderate',
        via: [{ source: 2, name: 'semver', title: 'ReDoS', url: `https://github.com/advisories/${GHSA_B}`, severity: 'moderate', range: '<7.5.2' }],
      },
    },
    metadata: {},
  };
}

const silent = { log() {}, warn() {}, error() {} };
const dirs = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function files(rep, allow) {
  const dir = mkdtempSync(join(tmpdir(), 'ow-audit-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'report.json'), JSON.stringify(rep));
  writeFileSync(join(dir, 'allow.json'), JSON.stringify(allow));
  return ['--report', join(dir, 'report.json'), '--allowlist', join(dir, 'allow.json')];
}
const entry = (over = {}) => ({ advisory: GHSA_A, package: 'ip', reason: 'only used by a dev proxy path we never call', expires: '2027-01-31', ...over });

describe('advisoriesOf', () => {
  test('keeps high and critical advisories of the package that carries them, not the packages affected through it', () => {
    const found = advisoriesOf(report());
    assert.deepEqual(found.map((a) => [a.advisory, a.package, a.severity]), [[GHSA_A.toUpperCase(), 'ip', 'high']]);
  });
  test('a lower level includes moderate ones', () => {
    assert.equal(advisoriesOf(report(), 'moderate').length, 2);
  });
  test('refuses what is not an audit report', () => {
    assert.throws(() => advisoriesOf({ message: '405 Method Not Allowed' }), /not an npm audit/);
  });
});

describe('evaluate', () => {
  test('an advisory not on the allowlist fails', () => {
    const r = evaluate(advisoriesOf(report()), [], NOW);
    assert.equal(r.failing.length, 1);
  });
  test('a live allowlist entry excuses exactly its advisory and package', () => {
    const entries = parseAllowlist({ entries: [entry()] }, NOW);
    assert.equal(evaluate(advisoriesOf(report()), entries, NOW).failing.length, 0);
    const other = parseAllowlist({ entries: [entry({ package: 'socks' })] }, NOW);
    assert.equal(evaluate(advisoriesOf(report()), other, NOW).failing.length, 1);
  });
  test('an expired entry excuses nothing and is reported', () => {
    const entries = parseAllowlist({ entries: [entry({ expires: '2026-12-01' })] }, NOW);
    const r = evaluate(advisoriesOf(report()), entries, NOW);
    assert.equal(r.failing.length, 1);
    assert.equal(r.expired.length, 1);
  });
  test('an entry matching no advisory is reported as unused', () => {
    const entries = parseAllowlist({ entries: [entry({ advisory: 'GHSA-xxxx-xxxx-xxxx'.replace(/x/g, 'c') })] }, NOW);
    assert.equal(evaluate(advisoriesOf(report()), entries, NOW).unused.length, 1);
  });
});

describe('parseAllowlist', () => {
  test('names every problem: no GHSA id, no reason, no date, an expiry too far away', () => {
    assert.throws(
      () => parseAllowlist({ entries: [{ advisory: 'CVE-1', package: 'ip', reason: 'x', expires: 'soon' }, entry({ expires: '2028-01-01' })] }, NOW),
      (err) => /advisory must be a GHSA id/.test(err.message) && /reason must say why/.test(err.message) && /expires must be a date/.test(err.message) && /more than 180 days/.test(err.message),
    );
  });
  test('the repository allowlist is valid', async () => {
    const { readFileSync } = await import('node:fs');
    const { DEFAULT_ALLOWLIST } = await import('../audit-deps.mjs');
    assert.doesNotThrow(() => parseAllowlist(JSON.parse(readFileSync(DEFAULT_ALLOWLIST, 'utf8'))));
  });
});

describe('main', () => {
  test('exit 1 on a high advisory, 0 once it is allowed, 0 on a clean report', () => {
    assert.equal(main(files(report(), { entries: [] }), NOW, silent), 1);
    assert.equal(main(files(report(), { entries: [entry()] }), NOW, silent), 0);
    assert.equal(main(files({ auditReportVersion: 2, vulnerabilities: {} }, { entries: [] }), NOW, silent), 0);
  });
  test('an invalid allowlist fails the run', () => {
    assert.equal(main(files(report(), { entries: [{ advisory: GHSA_A }] }), NOW, silent), 1);
  });
  test('a critical advisory fails even with --level critical; a high one does not', () => {
    assert.equal(main([...files(report('critical'), { entries: [] }), '--level', 'critical'], NOW, silent), 1);
    assert.equal(main([...files(report('high'), { entries: [] }), '--level', 'critical'], NOW, silent), 0);
  });
});
