/**
 * The ingest process as production runs it (dist/main.js, NODE_ENV=production, ADMIN_PORT set),
 * against a nats-server that requires a user/password and a redis-server whose password the
 * service gets wrong: no credential from NATS_URL or REDIS_URL appears anywhere in its output,
 * /metrics and the detailed readiness are only on the admin port, /docs is off, and every
 * response carries the security headers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, runBeforeStart, startNats, startRedis, waitFor, type NatsServerHandle, type RedisServerHandle } from '@orderwire/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, startJwks, type Jwks } from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** 15 s for the process to become ready */
const READY_TIMEOUT_MS = 15_000;
const NATS_PASSWORD = 'nats-Pa55-7f3a9c';
const REDIS_PASSWORD = 'redis-Pa55-41be0d';

let nats: NatsServerHandle;
let redis: RedisServerHandle;
let jwks: Jwks;
let proc: ChildProcess | undefined;
let base: string;
let admin: string;
const output: string[] = [];

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build -w @orderwire/ingest\` first`);
  [nats, redis, jwks] = await Promise.all([
    startNats({ config: `authorization { user: ingest, password: "${NATS_PASSWORD}" }` }),
    startRedis({ args: ['--requirepass', 'the-real-one'] }),
    startJwks(),
  ]);
  // The topology owner's step, as npm start runs it (ingest only verifies).
  await runBeforeStart({ ...process.env, NATS_URL: `nats://ingest:${NATS_PASSWORD}@127.0.0.1:${new URL(nats.url).port}` });
  const [port, adminPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
  proc = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '127.0.0.1',
      NATS_URL: `nats://ingest:${NATS_PASSWORD}@127.0.0.1:${new URL(nats.url).port}`,
      REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${new URL(redis.url).port}`,
      AUTH_JWKS_URL: jwks.url,
      AUTH_ISSUER: ISSUER,
      LOG_LEVEL: 'debug',
      INSTANCE_ID: 'ingest-hardening',
      SHUTDOWN_GRACE: '10s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  await waitFor(
    async () => {
      if (proc!.exitCode !== null) throw new Error(`ingest exited early:\n${output.join('')}`);
      return (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
    },
    { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, message: () => `ingest ready; output:\n${output.join('').slice(-3000)}` },
  );
}, 60_000);

afterAll(async () => {
  if (proc !== undefined && proc.exitCode === null) proc.kill('SIGKILL');
  await Promise.all([nats?.dispose(), redis?.dispose(), jwks?.close()]);
});

describe('secrets in connection URLs', () => {
  it('neither the NATS nor the Redis password appears in any log line, while the failures themselves are logged', async () => {
    // The wrong Redis password has been tried and reported (so the check below can fail).
    await waitFor(() => output.join('').includes('WRONGPASS'), { timeoutMs: 10_000, message: 'a logged Redis AUTH failure' });
    const text = output.join('');
    expect(text).toContain('ingest starting');
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain(NATS_PASSWORD);
    expect(text).not.toContain(REDIS_PASSWORD);
  });
});

describe('exposure', () => {
  it('serves /metrics and the detailed readiness only on ADMIN_PORT', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ok: true, state: 'running' });
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('orderwire_');
    expect(await (await fetch(`${admin}/readyz`)).json()).toMatchObject({ ok: true, checks: { nats: { ok: true } } });
    // The application API is not on the admin port.
    expect((await fetch(`${admin}/v1/orders/x`)).status).toBe(404);
  });

  it('has /docs off with NODE_ENV=production', async () => {
    expect((await fetch(`${base}/docs`)).status).toBe(404);
    expect((await fetch(`${base}/docs/json`)).status).toBe(404);
  });

  it('puts the security headers on every response and sends no CORS headers by default', async () => {
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/orders/o-1'],
      ['POST', '/v1/orders'],
    ] as const) {
      const res = await fetch(`${base}${path}`, { method, headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-powered-by'), path).toBeNull();
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });
});
