/**
 * tools/subject-memory.mjs against a real nats-server: it reports the live heap before and after
 * each step and the heap per subject (docs/adr/0006's figure comes from a 1,000,000-subject run;
 * here a small one checks that the tool reads it at all), and refuses unbounded runs.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolveBinary } from '@orderwire/test-harness';
import { describe, expect, it } from 'vitest';

const TOOL = fileURLToPath(new URL('../tools/subject-memory.mjs', import.meta.url));

function tool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

describe('subject-memory.mjs', () => {
  it("reads nats-server's live heap per step and what each subject adds to it", async () => {
    const r = await tool(['--nats', resolveBinary('nats-server'), '--subjects', '40000', '--steps', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l.subjects)).toEqual([0, 20_000, 40_000]);
    for (const l of lines.slice(1)) {
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
    const missing = await tool(['--nats', '/nonexistent/nats-server']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--nats /nonexistent/nats-server: no such file');
  });
});
