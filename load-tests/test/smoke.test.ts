import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../src/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = fileURLToPath(new URL('../dist/bench.js', import.meta.url));
const services = ['auth', 'ingest', 'edge'].map((s) => join(ROOT, 'services', s, 'dist', 'main.js'));
const built = existsSync(BENCH) && services.every((p) => existsSync(p));

describe('bench smoke run (own stack: real NATS, Redis, auth, ingest, two edges)', () => {
  it.each(['sdk', 'protocol'] as const)(
    '20 displays on the %s client, 20 orders/s, 5 s: everything delivered, nothing lost',
    async (client) => {
      // `npm test` builds everything first; a missing build is a setup error, never a silent skip.
      if (!built) throw new Error('load-tests/dist or services/{auth,ingest,edge}/dist missing: run `npm run build` first');
      const dir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
      const out = join(dir, 'smoke.json');
      try {
        const args = [BENCH, '--displays', '20', '--rate', '20', '--duration', '5', '--drain', '20', '--client', client, '--out', out];
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, args, { timeout: 150_000 }, (err, stdout, stderr) =>
            resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
          );
        });
        expect(code, `${stdout}\n${stderr}`).toBe(0);
        expect(stdout).toMatch(/OK: nothing lost/);
        const r = JSON.parse(await readFile(out, 'utf8')) as BenchResult;
        expect(r.ok).toBe(true);
        expect(r.harness.client).toBe(client);
        expect(r.connections.heldAtStart).toBe(20);
        expect(r.orders.accepted).toBe(100);
        expect(r.deliveries.expected).toBe(100);
        expect(r.deliveries.displayed).toBe(100);
        expect(r.deliveries.lost).toBe(0);
        expect(r.deliveries.duplicatesShown).toBe(0);
        expect(r.latencyMs?.count).toBe(100);
        expect(r.processes.map((p) => p.name)).toEqual(
          expect.arrayContaining(['nats-server', 'redis-server', 'auth', 'ingest', 'edge-1', 'edge-2', 'display-worker-1', 'bench']),
        );
        expect(r.processes.find((p) => p.name === 'edge-1')?.rssMaxMB).toBeGreaterThan(10);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
