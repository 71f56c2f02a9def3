/**
 * tools/stall-seconds.mjs on a made-up run: which slow seconds it puts at a nats-server GC cycle
 * (read from Go's gctrace lines as nats-gctrace.sh writes them) and at an edge's major GC
 * (stall-probe.mjs's lines), and what it refuses.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

const tool = (args: string[]) => runTool('stall-seconds.mjs', args);

const T0 = 1_800_000_000_000;
let dir: string;


beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stall-seconds-'));
  // Ten seconds; slow at 3 (a nats-server cycle 2.6–3.8 s) and at 7 (the edge's major GC).
  const p99 = [10, 12, 11, 140, 12, 11, 10, 120, 11, 10];
  const latencyTimeline = p99.map((v, s) => ({ fromS: s, toS: s + 1, count: 1000, p50: 5, p99: v, max: v * 2 }));
  await writeFile(join(dir, 'run.json'), JSON.stringify({ publishStartedAt: T0, latencyTimeline }));
  await writeFile(join(dir, 'five.json'), JSON.stringify({ publishStartedAt: T0, latencyTimeline: [{ fromS: 0, toS: 5, count: 1, p50: 1, p99: 1, max: 1 }] }));
  const end = (T0 + 3_800) / 1000;
  await writeFile(
    join(dir, 'nats-gc.log'),
    [
      `${((T0 - 20_000) / 1000).toFixed(6)} gc 3 @1.0s 1%: 0.1+5+0.01 ms clock, 0.2+1/2/3+0.02 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P`,
      `${end.toFixed(6)} gc 34 @41.938s 4%: 0.76+1198+0.075 ms clock, 1.5+246/617/190+0.15 ms cpu, 667->727->442 MB, 789 MB goal, 34 MB stacks, 0 MB globals, 2 P`,
      `${(end + 0.1).toFixed(6)} [INF] not a gc line`,
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'edge-1-123.jsonl'),
    [
      { t: T0 + 7_200, gc: 4, ms: 31.5 },
      { t: T0 + 8_000, loopMaxMs: 80 },
      { t: T0 + 4_000, loopMaxMs: 9 },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n') + '\n',
  );
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('stall-seconds', () => {
  it('puts each slow second at the nats-server GC cycle or the edge major GC it met', async () => {
    const r = await tool(['--result', join(dir, 'run.json'), '--probe-dir', dir, '--nats-gc', join(dir, 'nats-gc.log')]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d+\s+\d+/.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([
      ['3', '140'],
      ['7', '120'],
    ]);
    expect(rows[0]).toContain('cycle');
    expect(rows[1]).not.toContain('cycle');
    expect(rows[1]).toMatch(/80 major 32/);
    expect(r.stdout).toContain('2 of 10 seconds with p99 over 60 ms; 1 of them within a second of a nats-server GC cycle (3 of all 10 seconds are); 1 at an edge');
    expect(r.stdout).toContain('nats-server GC cycles: 1, 2.6–3.8 s');
  });

  it('takes the threshold from --over', async () => {
    const r = await tool(['--result', join(dir, 'run.json'), '--over', '130']);
    expect(r.stdout).toContain('1 of 10 seconds with p99 over 130 ms.');
    expect(r.stdout, 'no nats-server trace given: no claim about its cycles').not.toContain('nats-server');
  });

  it('refuses a run without a one-second timeline, and a call without --result', async () => {
    const five = await tool(['--result', join(dir, 'five.json')]);
    expect(five.code).toBe(2);
    expect(five.stderr).toContain('--latency-window 1');
    expect((await tool([])).code).toBe(2);
  });
});
