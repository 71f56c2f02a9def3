import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readWorkspace } from '../check-deps.mjs';
import { REPO_ROOT } from '../lib/repo.mjs';
import { MEASURED_SECONDS, UNMEASURED_SECONDS, assignTracks, blockedByBuild } from '../lib/test-tracks.mjs';

const names = (tracks) => tracks.map((t) => t.packages);

describe('assignTracks', () => {
  test('longest first, each to the track with the least work so far', () => {
    const seconds = { a: 10, b: 8, c: 5, d: 4, e: 3 };
    // a → 1 (10), b → 2 (8), c → 2 (13), d → 1 (14), e → 2 (16).
    assert.deepEqual(assignTracks(Object.keys(seconds), { seconds }), [
      { packages: ['a', 'd'], seconds: 14 },
      { packages: ['b', 'c', 'e'], seconds: 16 },
    ]);
  });

  test('every package runs exactly once, whatever the input order', () => {
    const seconds = { a: 3, b: 3, c: 3, d: 1 };
    const one = assignTracks(['d', 'c', 'b', 'a', 'a'], { seconds });
    const other = assignTracks(['a', 'b', 'c', 'd'], { seconds });
    assert.deepEqual(one, other);
    assert.deepEqual(one.flatMap((t) => t.packages).sort(), ['a', 'b', 'c', 'd']);
  });

  test('a package without a measurement counts as the default; empty tracks are dropped', () => {
    assert.deepEqual(assignTracks(['new'], { seconds: {} }), [{ packages: ['new'], seconds: UNMEASURED_SECONDS }]);
    assert.deepEqual(names(assignTracks(['x', 'y', 'z'], { seconds: {}, trackCount: 1 })), [['x', 'y', 'z']]);
    assert.deepEqual(assignTracks([], {}), []);
  });

  test('the measured suites split into two tracks within 5 % of an even split', () => {
    const tracks = assignTracks(Object.keys(MEASURED_SECONDS));
    assert.equal(tracks.length, 2);
    const total = Object.values(MEASURED_SECONDS).reduce((a, b) => a + b, 0);
    for (const t of tracks) assert.ok(t.seconds <= (total / 2) * 1.05, `track of ${t.seconds} s out of ${total} s`);
  });

  test('every workspace package with a test script has a measured duration (keeps the balance true)', () => {
    const withTests = readWorkspace(REPO_ROOT)
      .filter((p) => JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')).scripts?.test)
      .map((p) => p.name)
      .sort();
    assert.deepEqual(withTests, Object.keys(MEASURED_SECONDS).sort());
  });
});

describe('blockedByBuild', () => {
  const pkg = (name, runtime = [], dev = []) => ({ name, runtime: new Set(runtime), dev: new Set(dev) });
  const workspace = [pkg('contracts'), pkg('platform', ['contracts', 'pino']), pkg('edge', ['platform'], ['harness']), pkg('harness', ['contracts'])];
  const built = (results) => new Map(Object.entries(results).map(([n, exitCode]) => [`${n}#build`, { exitCode }]));

  test('all built: nothing blocked', () => {
    const all = built({ contracts: 0, platform: 0, edge: 0, harness: 0 });
    assert.deepEqual([...blockedByBuild(workspace, all, { needsOwnBuild: true })], []);
    assert.deepEqual([...blockedByBuild(workspace, all, { needsOwnBuild: false })], []);
  });

  test('tests need their own build; turbo skips (no exit code) what depends on a failed build', () => {
    const b = built({ contracts: 0, platform: 2, edge: undefined, harness: 0 });
    assert.deepEqual(Object.fromEntries(blockedByBuild(workspace, b, { needsOwnBuild: true })), {
      platform: 'it or a dependency failed to build',
      edge: 'it or a dependency failed to build',
    });
  });

  test("lint and typecheck need their workspace dependencies' builds (runtime or dev), not their own", () => {
    const b = built({ contracts: 0, platform: 2, edge: undefined, harness: 1 });
    assert.deepEqual(Object.fromEntries(blockedByBuild(workspace, b, { needsOwnBuild: false })), { edge: 'harness did not build' });
  });
});
