/**
 * The short subset of the chaos suite in `npm test` (the whole suite is `npm run chaos`): one
 * SIGKILL of the order-stream leader of a 3-node cluster with R3 streams and `sync_interval:
 * always`, under a steady order rate through the whole stack, through the CLI as an operator
 * runs it, JSON out.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ChaosReport } from '../src/chaos/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/chaos-cli.js', import.meta.url));
const services = ['auth', 'ingest', 'edge', 'dlq'].map((s) => join(ROOT, 'services', s, 'dist', 'main.js'));
const built = existsSync(CLI) && services.every((p) => existsSync(p));

describe('chaos quick case (3-node cluster, R3, sync always, the whole stack)', () => {
  it(
    'SIGKILL of the order-stream leader: every accepted order shown once on every target display; the figures are reported',
    async () => {
      if (!built) throw new Error('load-tests/dist or services/*/dist missing: run `npm run build` first');
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, '--cases', '1q', '--rate', '20', '--displays', '8', '--json'], { timeout: 170_000, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
        );
      });
      expect(code, `${stdout.slice(-3000)}\n${stderr.slice(-3000)}`).toBe(0);
      const report = JSON.parse(stdout) as ChaosReport;
      expect(report.ok).toBe(true);
      expect(report.natsVersion).toMatch(/^v?2\.\d+\.\d+/);
      const [r] = report.cases;
      expect(r?.id).toBe('1q');
      expect(r?.sync).toBe('always');
      expect(r?.accepted).toBeGreaterThan(100);
      expect(r?.expected).toBe((r?.accepted ?? 0) * 2);
      expect(r?.displayed).toBe(r?.expected);
      expect(r?.lost).toBe(0);
      expect(r?.duplicatesShown).toBe(0);
      expect(r?.availability.requests).toBeGreaterThan(0);
      expect(r?.recoveryMs).toBeTypeOf('number');
      expect(r?.faultLatencyP99Ms).toBeTypeOf('number');
      expect(r?.events.some((e) => e.what.startsWith('SIGKILL'))).toBe(true);
    },
    180_000,
  );
});
