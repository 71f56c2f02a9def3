/**
 * What can run here runs: the rendered nats.conf of each overlay is loaded by the real
 * nats-server CI tests against, and the dev configuration serves the readiness endpoint the
 * StatefulSet probes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { freePort, waitFor } from '@orderwire/test-harness';
import { NATS_IDENTITIES } from '@orderwire/platform';
import { REPO_ROOT, TOOLS_BIN, natsConf } from '../src/index.js';
import { rendered } from './renders.js';

const NATS_SERVER = join(TOOLS_BIN, 'nats-server');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * The rendered config in a temp dir laid out like the pod's /etc/nats, paths moved into it, with
 * Secret nats-auth's auth.conf as scripts/nats-auth.mjs generates it (docs/deploy.md).
 */
function layOut(conf: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ow-nats-conf-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'auth'));
  const gen = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'nats-auth.mjs'), '--out', join(dir, 'auth')], { encoding: 'utf8', timeout: 30_000 });
  if (gen.status !== 0) throw new Error(`nats-auth.mjs failed: ${gen.stderr}`);
  const local = conf.replace('store_dir: /data', `store_dir: ${join(dir, 'store')}`).replace('/var/run/nats/nats.pid', join(dir, 'nats.pid'));
  const file = join(dir, 'nats.conf');
  writeFileSync(file, local);
  return { dir, file };
}

describe('the rendered nats.conf', () => {
  test.each(['production', 'dev'] as const)('%s: nats-server accepts it (-t)', (overlay) => {
    const conf = natsConf(rendered(overlay));
    expect(conf).toBeDefined();
    const { file } = layOut(conf ?? '');
    const res = spawnSync(NATS_SERVER, ['-c', file, '-t'], { env: { ...process.env, POD_NAME: 'nats-0' }, encoding: 'utf8', timeout: 30_000 });
    expect(`${res.stdout}${res.stderr}`, `exit ${res.status}`).toMatch(/configuration file .* is valid/);
    expect(res.status).toBe(0);
  });

  test('production includes the generated authorization: one NKEY user per identity, topology among them', () => {
    const { dir } = layOut(natsConf(rendered('production')) ?? '');
    const auth = readFileSync(join(dir, 'auth', 'auth.conf'), 'utf8');
    expect(NATS_IDENTITIES).toContain('topology');
    for (const id of NATS_IDENTITIES) expect(auth, id).toMatch(new RegExp(`# ${id}\\n\\s*\\{\\s*\\n\\s*nkey: "U[A-Z2-7]{55}"`));
    expect(auth.match(/nkey: "U/g)).toHaveLength(NATS_IDENTITIES.length);
  });

  test('a broken configuration is refused (the check can fail)', () => {
    const { file } = layOut('jetstream {\n  store_dir: /tmp/x\n  sync_interval: sometimes\n}\n');
    const res = spawnSync(NATS_SERVER, ['-c', file, '-t'], { encoding: 'utf8', timeout: 30_000 });
    expect(res.status).not.toBe(0);
  });

  test('dev: the server starts from it and answers the StatefulSet’s readiness probe', async () => {
    const { dir, file } = layOut(natsConf(rendered('dev')) ?? '');
    const [port, monitor] = [await freePort(), await freePort()];
    const child = spawn(NATS_SERVER, ['-c', file, '-p', String(port), '-m', String(monitor)], {
      env: { ...process.env, POD_NAME: 'nats-0' },
      stdio: 'ignore',
      cwd: dir,
    });
    try {
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${monitor}/healthz?js-server-only=true`).catch(() => undefined);
          return res?.status === 200;
        },
        { timeoutMs: 30_000, message: 'nats /healthz?js-server-only=true answers 200' },
      );
      const jsz = (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as { server_name: string; jetstream?: { config?: { store_dir?: string } } };
      expect(jsz.server_name).toBe('nats-0');
      // nats-server keeps its files in <store_dir>/jetstream (the PVC's /data/jetstream in the pod).
      expect(jsz.jetstream?.config?.store_dir).toBe(join(dir, 'store', 'jetstream'));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
