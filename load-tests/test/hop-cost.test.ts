/**
 * tools/hop-cost.mjs: one short phase per mode against a real echo child and a real nats-server,
 * and its refusal of bad arguments. The figures themselves are machine facts (docs/benchmarks.md
 * round 13); here only their presence and sense are checked.
 */
import { resolveBinary } from '@orderwire/test-harness';
import { describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

const tool = (args: string[]) => runTool('hop-cost.mjs', args);



describe('hop-cost.mjs', () => {
  it('prints CPU per round trip for every process and per one-way message, by rate and mode', async () => {
    const r = await tool(['--seconds', '1', '--rates', '200,0', '--nats', resolveBinary('nats-server')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => `${String(l.mode)} ${String(l.rate)}`)).toEqual(['tcp 200', 'tcp back-to-back', 'nats 200', 'nats back-to-back']);
    for (const l of lines) {
      expect(l.cpuUsPerOneWayMessage).toBeGreaterThan(0);
      expect(Object.keys(l.cpuUsPerRoundTrip as object)).toEqual(l.mode === 'tcp' ? ['self', 'echo'] : ['self', 'responder', 'nats-server']);
    }
    // Paced at 200/s for a second: about 200 round trips, not more.
    expect(lines[0]!.roundTripsPerS).toBeGreaterThan(150);
    expect(lines[0]!.roundTripsPerS).toBeLessThanOrEqual(210);
    expect(lines[1]!.roundTripsPerS).toBeGreaterThan(lines[0]!.roundTripsPerS as number);
  }, 60_000);

  it('refuses a run that is not bounded', async () => {
    expect((await tool(['--seconds', '600'])).code).not.toBe(0);
    expect((await tool(['--rates', '500,-1'])).code).not.toBe(0);
    // A nats-server that is not there is said at once, before any phase runs.
    const missing = await tool(['--seconds', '1', '--nats', '/nonexistent/nats-server']);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('--nats /nonexistent/nats-server: no such file');
  });
});
