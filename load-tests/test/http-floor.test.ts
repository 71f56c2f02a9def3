/**
 * tools/http-floor.mjs: one short phase per server against real child processes, and its refusal
 * of bad arguments. The figures are machine facts (docs/benchmarks.md round 15); here only their
 * presence and sense are checked.
 */
import { describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

const tool = (args: string[]) => runTool('http-floor.mjs', args);

describe('http-floor.mjs', () => {
  it('prints requests per second and CPU per request of server and client, for each server', async () => {
    const r = await tool(['--seconds', '1', '--inflight', '8']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { server: string; inflight: number; requestsPerS: number; cpuUsPerRequest: Record<string, number> });
    expect(lines.map((l) => l.server)).toEqual(['node', 'fastify']);
    for (const l of lines) {
      expect(l.inflight).toBe(8);
      expect(l.requestsPerS).toBeGreaterThan(100);
      expect(Object.keys(l.cpuUsPerRequest)).toEqual(['server', 'client']);
      expect(l.cpuUsPerRequest.server).toBeGreaterThan(0);
      expect(l.cpuUsPerRequest.client).toBeGreaterThan(0);
    }
  }, 60_000);

  it('refuses a run that is not bounded, and a server it does not know', async () => {
    expect((await tool(['--seconds', '600'])).code).not.toBe(0);
    expect((await tool(['--inflight', '0'])).code).not.toBe(0);
    const unknown = await tool(['--seconds', '1', '--servers', 'node,express']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('--servers: express is not one of node, fastify');
  });
});
