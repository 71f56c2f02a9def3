// Which package's vitest suite runs on which track in `npm test`.
//
// The package tests run on two tracks at once, each track one package at a time (the integration
// tests start real servers, CI has 2 cores, and much of a suite's time is spent waiting on the
// processes it started). The step lasts as long as its longest track, so the packages are dealt
// out longest first, each to the track with the least work so far (greedy longest-processing-time
// scheduling; within a few per cent of the best split for these sizes, and deterministic).

/**
 * Seconds each package's vitest run took in a clean-clone `CI=true bash .ci/run` on a 2-core
 * machine (vitest's "Duration" line, .turbo/orderwire-test/*.log). Only the relative sizes matter:
 * re-measure when a suite grows or shrinks a lot. A package missing here counts as
 * UNMEASURED_SECONDS (a new package is rarely the largest suite).
 */
export const MEASURED_SECONDS = {
  '@orderwire/system-tests': 318,
  '@orderwire/auth': 105,
  '@orderwire/edge': 101,
  '@orderwire/load-tests': 80,
  '@orderwire/platform': 61,
  '@orderwire/ingest': 58,
  '@orderwire/k8s-checks': 36,
  '@orderwire/dlq': 32,
  '@orderwire/webhooks': 22,
  '@orderwire/test-harness': 19,
  '@orderwire/observability-checks': 16,
  '@orderwire/display-sdk': 14,
  '@orderwire/token-verifier': 11,
  '@orderwire/contracts': 5,
  '@orderwire/display': 4,
};
export const UNMEASURED_SECONDS = 30;
export const TRACK_COUNT = 2;

/**
 * Deals `packages` (names) out to `trackCount` tracks, longest first, each to the track with the
 * least estimated work (ties: the lower track). Returns the tracks (arrays of names, longest
 * first) with their estimated seconds; empty tracks are dropped.
 */
export function assignTracks(packages, { seconds = MEASURED_SECONDS, trackCount = TRACK_COUNT, unmeasured = UNMEASURED_SECONDS } = {}) {
  const cost = (p) => seconds[p] ?? unmeasured;
  const sorted = [...new Set(packages)].sort((a, b) => cost(b) - cost(a) || a.localeCompare(b));
  const tracks = Array.from({ length: Math.max(1, trackCount) }, () => ({ packages: [], seconds: 0 }));
  for (const p of sorted) {
    const lightest = tracks.reduce((best, t) => (t.seconds < best.seconds ? t : best));
    lightest.packages.push(p);
    lightest.seconds += cost(p);
  }
  return tracks.filter((t) => t.packages.length > 0);
}

/**
 * The build step's verdict on what may run after it, from turbo's per-task results
 * (`built`: `'<package>#build'` → { exitCode }, no exit code when turbo skipped the task because a
 * dependency failed). A package's tests need its own build (which needs its dependencies');
 * its lint and typecheck need its workspace dependencies' builds (turbo's `^build`). Returns
 * package → why it cannot run.
 */
export function blockedByBuild(workspace, built, { needsOwnBuild }) {
  const names = new Set(workspace.map((p) => p.name));
  const ok = (name) => built.get(`${name}#build`)?.exitCode === 0;
  const blocked = new Map();
  for (const p of workspace) {
    if (needsOwnBuild && !ok(p.name)) {
      blocked.set(p.name, 'it or a dependency failed to build');
      continue;
    }
    const dep = [...p.runtime, ...p.dev].filter((d) => names.has(d)).sort().find((d) => !ok(d));
    if (dep) blocked.set(p.name, `${dep} did not build`);
  }
  return blocked;
}
