import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../src/args.js';
import { checkCapacityTargets, checkTargets, cpuPerDelivery, formatCapacityResult, formatResult, type BenchResult } from '../src/report.js';

function result(over: { args?: string[]; lost?: number; p50?: number; p99?: number; edges?: number; edgeRss?: number; perSecond?: number; stackMs?: number; connectS?: number } = {}): Omit<BenchResult, 'targets' | 'ok'> {
  const options = parseBenchArgs(over.args ?? []);
  const lat = { count: 10, min: 0.5, p50: over.p50 ?? 1.5, p95: 3, p99: over.p99 ?? 9, max: 12, mean: 2 };
  return {
    version: 1,
    runId: 'bench-x',
    startedAt: '2026-11-28T00:00:00.000Z',
    command: 'npm run bench',
    machine: { cpus: 2, cpuModel: 'cpu', memoryGB: 24, node: 'v20', kernel: '6' },
    options,
    stack: { target: 'own', edges: Array.from({ length: over.edges ?? 2 }, (_, i) => `http://127.0.0.1:${3003 + i}`) },
    phases: { registerS: 1, connectS: over.connectS ?? 2, connectPerS: 500 },
    connections: { target: options.displays, heldAtStart: options.displays, heldMin: options.displays, heldAtEnd: options.displays, reconnects: 0, disconnects: 0, flapCycles: 0 },
    orders: { scheduled: 10, accepted: 10, acceptedDuplicate: 0, retried: 0, failed: 0, statuses: {}, perSecond: over.perSecond ?? options.rate, httpLatencyMs: lat, maxScheduleLagMs: 1 },
    deliveries: {
      expected: 10,
      displayed: 10 - (over.lost ?? 0),
      lost: over.lost ?? 0,
      lostSample: over.lost ? [{ orderId: 'bench-x-o1', displayId: 'bench-x-d1', serverStatus: 'pending' }] : [],
      duplicatesOnWire: 0,
      duplicatesShown: 0,
      misrouted: 0,
      shownUnconfirmed: 0,
      foreign: 0,
      received: 10,
      acked: 10,
      rejected: 0,
      perSecond: 5,
      drainS: 0.2,
    },
    latencyMs: lat,
    floor: undefined,
    fault: undefined,
    processes: [{ name: 'edge-1', cpuSeconds: 1, cpuAvgPercent: 10, cpuPeakPercent: 20, rssMaxMB: over.edgeRss ?? 100, rssLastMB: 90, rssMarkedMB: 80, pids: [1] }],
    machineLoad: { cores: 2, busyPercent: 60, measuredPercent: 55, otherPercent: 5, irqPercent: 1, topOther: [{ command: 'tsc', cpuPercent: 8 }], loadAverage1m: 1 },
    harness: { workers: 1, workerLoopDelayP99Ms: 1, workerLoopDelayMaxMs: 2, benchLoopDelayP99Ms: 1 },
    cpuPerDeliveryMs: { stack: over.stackMs ?? 1.2, harness: 0.3, byProcess: { 'edge-1': over.stackMs ?? 1.2, bench: 0.3 } },
    storm: undefined,
    errors: {},
    errorExamples: {},
  };
}

const byName = (checks: ReturnType<typeof checkTargets>) => Object.fromEntries(checks.map((c) => [c.name, c.ok]));

describe('targets', () => {
  it('checks the standard profile’s latency targets', () => {
    expect(byName(checkTargets(result()))).toEqual({
      lost: true,
      'connections held': true,
      'duplicates shown to the app': true,
      'orders/s achieved': true,
      'e2e p50 @1k displays, 500/s': true,
      'e2e p99 @1k displays, 500/s': true,
      'whole-stack CPU per delivered order @500/s': true,
    });
    expect(byName(checkTargets(result({ p50: 2.5, p99: 25, lost: 1, perSecond: 400, stackMs: 3.2 })))).toMatchObject({
      'whole-stack CPU per delivered order @500/s': false,
      lost: false,
      'orders/s achieved': false,
      'e2e p50 @1k displays, 500/s': false,
      'e2e p99 @1k displays, 500/s': false,
    });
  });

  it('checks the scale targets only for the scale profile on one edge', () => {
    const scale = checkTargets(result({ args: ['--displays', '10000', '--rate', '1000', '--edges', '1'], edges: 1, p99: 150, edgeRss: 420 }));
    expect(byName(scale)).toMatchObject({ 'e2e p99 @10k displays, 1,000/s': false, 'edge RSS @10k displays': false, '10000 displays enrolled and connected': true });
    expect(byName(checkTargets(result({ args: ['--profile', 'scale'], edges: 1, connectS: 75 })))).toMatchObject({ '10000 displays enrolled and connected': false });
    expect(byName(checkTargets(result({ args: ['--profile', 'fleet-20k'], connectS: 59 })))).toMatchObject({ '20000 displays enrolled and connected': true });
    expect(byName(scale)).not.toHaveProperty('e2e p50 @1k displays, 500/s');
    expect(byName(checkTargets(result({ args: ['--fault', 'kill-edge'] })))).not.toHaveProperty('e2e p50 @1k displays, 500/s');
  });

  it('prints every section and the verdict', () => {
    const partial = result({ lost: 1 });
    const text = formatResult({ ...partial, targets: checkTargets(partial), ok: false });
    for (const heading of ['Connections', 'Orders', 'Deliveries', 'Processes', 'Machine (2 cores)', 'Harness', 'Targets']) expect(text).toContain(heading);
    expect(text).toContain('lost bench-x-o1');
    expect(text).toMatch(/FAILED: 1 lost/);
  });

  it('CPU per delivered order: the stack is every sampled process but the harness', () => {
    const c = cpuPerDelivery(
      [
        { name: 'nats-server', cpuSeconds: 6 },
        { name: 'ingest', cpuSeconds: 4 },
        { name: 'edge-1', cpuSeconds: 2 },
        { name: 'bench', cpuSeconds: 3 },
        { name: 'display-worker-1', cpuSeconds: 1 },
      ],
      8000,
    )!;
    expect(c.stack).toBeCloseTo(1.5);
    expect(c.harness).toBeCloseTo(0.5);
    expect(c.byProcess['nats-server']).toBeCloseTo(0.75);
    expect(cpuPerDelivery([{ name: 'ingest', cpuSeconds: 1 }], 0)).toBeUndefined();
    const partial = result();
    expect(formatResult({ ...partial, targets: checkTargets(partial), ok: true })).toContain('CPU per delivered order × display');
  });

  it('prints the latency timeline when there is more than one window', () => {
    const partial = result();
    const one = formatResult({ ...partial, latencyTimeline: [{ fromS: 0, toS: 5, count: 3, p50: 1, p99: 2, max: 2 }], targets: checkTargets(partial), ok: true });
    expect(one).not.toContain('by when the order was due');
    const two = formatResult({
      ...partial,
      latencyTimeline: [
        { fromS: 0, toS: 5, count: 3, p50: 1, p99: 2, max: 2 },
        { fromS: 5, toS: 10, count: 4, p50: 40, p99: 180, max: 200 },
      ],
      targets: checkTargets(partial),
      ok: true,
    });
    expect(two).toContain('by when the order was due');
    expect(two).toMatch(/5–10 s\s+p50 40 {2}p99 180 {2}max 200 {2}\(n=4\)/);
  });

  it('ingest capacity: ratios to raw publishing against the targets, and a printout of each phase', () => {
    const phase = (name: 'single' | 'batch' | 'raw', ordersPerS: number) => ({ name, ordersPerS, orders: ordersPerS * 10, failed: 0, seconds: 10, latencyMs: undefined, cpuMsPerOrder: { ingest: 0.5, bench: 0.1 } });
    const capacity = { phases: [phase('single', 1200), phase('batch', 5000), phase('raw', 10000)], batchSize: 50, concurrency: 64, ratios: { single: 0.12, batch: 0.5 } };
    expect(checkCapacityTargets(capacity).map((t) => t.ok)).toEqual([false, false]);
    expect(checkCapacityTargets({ ...capacity, ratios: { single: 0.3, batch: 0.6 } }).map((t) => t.ok)).toEqual([true, true]);
    const options = parseBenchArgs(['--profile', 'ingest-capacity']);
    const text = formatCapacityResult({
      version: 1,
      kind: 'ingest-capacity',
      runId: 'bench-c',
      startedAt: 'now',
      command: 'npm run bench -- --profile ingest-capacity',
      machine: { cpus: 2, cpuModel: 'cpu', memoryGB: 24, node: 'v20', kernel: '6' },
      options,
      stack: { target: 'own', edges: [] },
      capacity,
      machineLoad: undefined,
      targets: checkCapacityTargets(capacity),
      ok: true,
    });
    for (const heading of ['Phase single', 'Phase batch', 'Phase raw', 'Ratios', 'Targets']) expect(text).toContain(heading);
    expect(text).not.toContain('bench 0.1'); // the harness is not ingest's cost
  });

  it("warns when the run's NATS store could not be kept apart from earlier runs' deleted files", () => {
    const partial = result({});
    const plain = formatResult({ ...partial, targets: checkTargets(partial), ok: true });
    expect(plain).not.toContain('TOPDIR');
    const spread = { ...partial, stack: { ...partial.stack, runDirSpread: true } };
    expect(formatResult({ ...spread, targets: checkTargets(spread), ok: true })).not.toContain('TOPDIR');
    const notSpread = { ...partial, stack: { ...partial.stack, runDirSpread: false } };
    expect(formatResult({ ...notSpread, targets: checkTargets(notSpread), ok: true })).toContain('could not be marked TOPDIR');
  });

  it('names the Go settings its own nats-server ran with', () => {
    const partial = result({});
    expect(formatResult({ ...partial, targets: checkTargets(partial), ok: true })).not.toContain('nats-server: GOGC');
    const tuned = { ...partial, stack: { ...partial.stack, natsEnv: { GOGC: '200', GOMEMLIMIT: '2500MiB' } } };
    expect(formatResult({ ...tuned, targets: checkTargets(tuned), ok: true })).toContain('nats-server: GOGC=200 GOMEMLIMIT=2500MiB');
  });

  it("prints nats-server's client messages per delivery when the run measured them", () => {
    const partial = result({});
    expect(formatResult({ ...partial, targets: checkTargets(partial), ok: true })).not.toContain('client messages per delivery');
    const counted = { ...partial, natsMessagesPerDelivery: { in: 5.214, out: 6.301 } };
    expect(formatResult({ ...counted, targets: checkTargets(counted), ok: true })).toMatch(/nats-server client messages per delivery \(in \/ out\)\s+5\.21 \/ 6\.30$/m);
  });

  it('says when RECEIPTS was prefilled before the run, and how full', () => {
    const partial = result({});
    expect(formatResult({ ...partial, targets: checkTargets(partial), ok: true })).not.toContain('RECEIPTS prefilled');
    const full = { ...partial, prefill: { messages: 8_000_000, streamMessages: 7_999_000, streamBytes: 2_104_000_000, maxBytes: 2 ** 31, seconds: 150, idleS: 140 } };
    expect(formatResult({ ...full, targets: checkTargets(full), ok: true })).toContain(
      'RECEIPTS prefilled: 7999000 messages, 2007 MiB of 2048 MiB max_bytes, untouched for 140 s before the displays registered',
    );
  });
});
