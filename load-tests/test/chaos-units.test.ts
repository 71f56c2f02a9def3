import { describe, expect, it } from 'vitest';
import { parseChaosArgs } from '../src/chaos-cli.js';
import { growthPerHour, median, scrapeValues } from '../src/chaos/growth.js';
import { parseSsConnections } from '../src/chaos/host-ops.js';
import { ChaosRecorder } from '../src/chaos/recorder.js';
import { formatTable, type ChaosReport } from '../src/chaos/report.js';
import type { Fleet } from '../src/plan.js';

const fleet: Fleet = { runId: 'r', displays: 4, fanout: 2, stationsPerStore: 4 };

describe('ChaosRecorder', () => {
  it('reads availability, the longest gap, recovery and p99 for the fault window', () => {
    const r = new ChaosRecorder(fleet);
    // Order 0 (group 0: displays 0, 1) before the fault, order 1 (group 1: displays 2, 3) during it.
    r.attempt({ n: 0, attempt: 1, status: 202, retryAfter: false, sentAt: 1_000, answeredAt: 1_010 });
    r.accepted(0, 1_005);
    r.shown(0, 0, 20);
    r.shown(1, 0, 30);
    r.attempt({ n: 1, attempt: 1, status: 503, retryAfter: true, sentAt: 2_000, answeredAt: 2_100 });
    r.attempt({ n: 1, attempt: 2, status: 'network', retryAfter: false, sentAt: 3_000, answeredAt: 3_100 });
    r.attempt({ n: 1, attempt: 3, status: 202, retryAfter: false, sentAt: 5_000, answeredAt: 5_050 });
    r.accepted(1, 5_040);
    r.shown(2, 1, 60);
    r.shown(3, 1, 960);
    const f = r.figures({ startAt: 2_000, endAt: 4_000 }, { startAt: 1_000, endAt: 6_500 });
    expect(f.availability).toEqual({ requests: 2, ok: 0, unavailable: 0.5, retryAfterShare: 1, other: { network: 1 } });
    // Shows at 1025, 1035, 5100, 6000: the gap 1035 → 5100.
    expect(f.longestGapMs).toBe(4_065);
    // Nothing accepted before 4000 was behind; ingest's first 202 after the fault came at 5050.
    expect(f.recoveryMs).toBe(1_050);
    // Order 1 was first sent at 2000 (in the fault) and shown at 5100 and 6000.
    expect(f.faultLatencyMaxMs).toBe(4_000);
  });

  it('has no recovery figure while an order accepted before the fault end is still missing', () => {
    const r = new ChaosRecorder(fleet);
    r.attempt({ n: 0, attempt: 1, status: 202, retryAfter: false, sentAt: 1_000, answeredAt: 1_010 });
    r.accepted(0, 1_005);
    r.shown(0, 0, 20);
    expect(r.figures({ startAt: 900, endAt: 1_500 }, { startAt: 900, endAt: 2_000 }).recoveryMs).toBeUndefined();
  });
});

describe('growth', () => {
  it('is the least-squares slope after warm-up, in % of the mean per hour', () => {
    const hour = 3_600_000;
    // Noise during warm-up is ignored; afterwards 100 → 110 over an hour (mean 105).
    const pts = [
      { t: 0, v: 10 },
      { t: 1000, v: 500 },
      { t: hour / 10, v: 100 },
      { t: hour / 2 + hour / 20, v: 105 },
      { t: hour + hour / 10, v: 110 },
    ];
    expect(growthPerHour(pts, hour / 10)).toBeCloseTo((10 / 105) * 100, 1);
    expect(growthPerHour(pts.slice(0, 3), hour / 10)).toBeUndefined();
    expect(growthPerHour([{ t: 0, v: 5 }, { t: 1, v: 5 }, { t: 2, v: 5 }], 0)).toBe(0);
  });

  it('reads Prometheus text and takes medians', () => {
    const text = '# HELP x\norderwire_node_process_open_fds 42\norderwire_node_nodejs_heap_size_used_bytes{a="b"} 1.5e6\nother 1\n';
    expect(scrapeValues(text, ['orderwire_node_process_open_fds', 'orderwire_node_nodejs_heap_size_used_bytes'])).toEqual({
      orderwire_node_process_open_fds: 42,
      orderwire_node_nodejs_heap_size_used_bytes: 1_500_000,
    });
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});

describe('npm run chaos arguments and table', () => {
  it('accepts case ids and slugs, refuses unknown ones and bad numbers', () => {
    expect(parseChaosArgs(['--cases', '1,partition', '--json']).cases).toEqual(['1', 'partition']);
    expect(parseChaosArgs(['--json', 'results/x.json']).json).toBe('results/x.json');
    expect(parseChaosArgs(['--nats', 'latest']).nats).toBe('latest');
    expect(() => parseChaosArgs(['--cases', '99'])).toThrow(/unknown case 99/);
    expect(() => parseChaosArgs(['--rate', '0'])).toThrow(/positive/);
    expect(() => parseChaosArgs(['--nats', '2.9'])).toThrow(/latest or default/);
  });

  it('prints one row per case and says which failed', () => {
    const report: ChaosReport = {
      version: 1,
      startedAt: '',
      command: 'npm run chaos',
      natsVersion: 'v2.10.27',
      load: { rate: 40, displays: 16, fanout: 2, warmupS: 8, tailS: 10, drainQuietS: 30 },
      machine: { cpus: 2, loadAverage1m: 3 },
      skipped: [],
      ok: false,
      cases: [
        {
          id: '9',
          slug: 'redis-pause-kill',
          title: 't',
          natsVersion: 'v2.10.27',
          sync: 'always',
          ok: false,
          failures: ['1 (order, display) pairs lost'],
          accepted: 10,
          expected: 20,
          displayed: 19,
          lost: 1,
          lostSample: [],
          duplicatesShown: 0,
          duplicatesOnWire: 2,
          availability: { requests: 4, ok: 0.75, unavailable: 0.25, retryAfterShare: 1, other: {} },
          longestGapMs: 1500,
          recoveryMs: 12_345,
          faultLatencyP99Ms: 80,
          faultLatencyMaxMs: 90,
          latencyP99Ms: 50,
          faultS: 3,
          durationS: 30,
          publisher: { scheduled: 10, accepted: 10, failed: 0, retried: 1, statuses: {} },
          reconnects: 0,
          clientErrors: {},
          crashes: [],
          observed: { note: 'x' },
          events: [],
        },
      ],
    };
    const table = formatTable(report);
    expect(table).toMatch(/9 redis-pause-kill\s+10\s+19\/20\s+1\s+0\s+2\s+75% \/ 25% of 4\s+1500 ms\s+12\.3 s\s+80 ms\s+FAIL: 1 \(order, display\) pairs lost/);
    expect(table).toContain('9: note=x');
    expect(table).toContain('chaos: 1 case(s) failed');
  });
});

describe('partition: the node\'s route connections from ss', () => {
  it('takes the port pairs of the given pid only', () => {
    const out = [
      '0      0      127.0.0.1:41234    127.0.0.1:6222   users:(("nats-server",pid=123,fd=9))',
      '0      0      127.0.0.1:6222     127.0.0.1:50000  users:(("nats-server",pid=123,fd=10))',
      '0      0      127.0.0.1:41235    127.0.0.1:6223   users:(("nats-server",pid=1234,fd=9))',
      '0      0      [::1]:5000         [::1]:6000       users:(("node",pid=123,fd=3))',
    ].join('\n');
    expect(parseSsConnections(out, 123)).toEqual([
      { local: 41234, remote: 6222 },
      { local: 6222, remote: 50000 },
      { local: 5000, remote: 6000 },
    ]);
  });
});
