/**
 * tools/subject-memory.mjs against a real nats-server: it reports the live heap before and after
 * each step and the heap per subject (docs/adr/0006's figure comes from a 1,000,000-subject run;
 * here a small one checks that the tool reads it at all), and refuses unbounded runs.
 */
import { resolveBinary } from '@orderwire/test-harness';
import { describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

const tool = (args: string[]) => runTool('subject-memory.mjs', args, 120_000);



describe('subject-memory.mjs', () => {
  it("reads nats-server's live heap per step and what each subject adds to it", async () => {
    const r = await tool(['--nats', resolveBinary('nats-server'), '--subjects', '40000', '--steps', '2', '--idle', '1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l.subjects)).toEqual([0, 20_000, 40_000, 40_000]);
    // The idle reading (2.5 min by default, when the blocks' subject state is gone; 1 s here).
    expect(lines[3]).toMatchObject({ idleS: 1 });
    expect(lines[3]!.heapBytesPerSubject).toBeGreaterThan(50);
    for (const l of lines.slice(1, 3)) {
      expect(l.liveMB).toBeGreaterThan(lines[0]!.liveMB!);
      // Each subject costs the server something, and not kilobytes.
      expect(l.heapBytesPerSubject).toBeGreaterThan(50);
      expect(l.heapBytesPerSubject).toBeLessThan(2_000);
      expect(l.streamBytesPerMessage).toBeGreaterThan(200);
    }
  }, 120_000);

  it('refuses a run that is not bounded', async () => {
    expect((await tool(['--subjects', '9000000'])).code).not.toBe(0);
    expect((await tool(['--steps', '0'])).code).not.toBe(0);
    expect((await tool(['--idle', '601'])).code).not.toBe(0);
    const missing = await tool(['--nats', '/nonexistent/nats-server']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--nats /nonexistent/nats-server: no such file');
  });
});
