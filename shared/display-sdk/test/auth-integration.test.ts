/**
 * The TokenManager against the REAL auth service (services/auth/dist/main.js as a process) with a
 * real nats-server and redis-server from the test harness. Fails with a clear message when the auth
 * service has not been built (`npm run build -w @orderwire/auth`; `npm test` always builds first).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runBeforeStart, startNats, startRedis, waitFor } from '@orderwire/test-harness';
import type { NatsServerHandle, RedisServerHandle } from '@orderwire/test-harness';
import { createTokenManager, memoryTokenStore } from '../src/index.js';
import type { FetchFn, ReenrollInfo, TokenManager } from '../src/index.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const authMain = join(repoRoot, 'services/auth/dist/main.js');
const authCli = join(repoRoot, 'services/auth/dist/cli.js');
/** The service connects to NATS, ensures its topology and loads keys first. */
const AUTH_START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

interface OperatorCredentials {
  operator: { clientId: string; clientSecret: string };
}

describe('TokenManager against the real auth service', () => {
  let nats: NatsServerHandle;
  let redis: RedisServerHandle;
  let dir: string;
  let authUrl: string;
  let proc: ChildProcess | undefined;
  let logs = '';
  let operatorToken: string;
  const managers: TokenManager[] = [];
  let displaySeq = 0;

  beforeAll(async () => {
    // `npm test` builds every package first; a missing auth build is a setup error, never a silent skip.
    if (!existsSync(authMain)) throw new Error(`${authMain} missing: run \`npm run build -w @orderwire/auth\` first`);
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    dir = await mkdtemp(join(tmpdir(), 'display-sdk-auth-'));
    const port = await freePort();
    authUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      PORT: String(port),
      AUTH_KEK: randomBytes(32).toString('base64'),
      AUTH_JWKS_URL: `${authUrl}/.well-known/jwks.json`,
      AUTH_SCRYPT_LOG_N: '12',
      LOG_LEVEL: 'warn',
    };

    // As npm start: the topology first (auth's beforeStart), then the seed.
    await runBeforeStart(env, { root: repoRoot });
    const credsFile = join(dir, 'dev-credentials.json');
    await run(process.execPath, [authCli, 'seed-dev', '--out', credsFile], env);
    const creds = JSON.parse(await readFile(credsFile, 'utf8')) as OperatorCredentials;

    proc = spawn(process.execPath, [authMain], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
    await waitFor(
      async () => {
        if (proc?.exitCode !== null) throw new Error(`auth exited early:\n${logs}`);
        const res = await fetch(`${authUrl}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: AUTH_START_TIMEOUT_MS, message: () => `auth not ready:\n${logs}` },
    );

    const tokenRes = await fetch(`${authUrl}/v1/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: creds.operator.clientId,
        client_secret: creds.operator.clientSecret,
        scope: 'displays:manage',
      }),
    });
    expect(tokenRes.status).toBe(200);
    operatorToken = ((await tokenRes.json()) as { access_token: string }).access_token;
  }, 90_000);

  afterAll(async () => {
    for (const m of managers.splice(0)) m.close();
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise<void>((res) => proc!.once('exit', () => res()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc!.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all([nats?.dispose(), redis?.dispose()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  /** Registers a new display through the operator API and returns its enrollment code. */
  async function register(): Promise<{ displayId: string; enrollmentCode: string }> {
    const displayId = `sdk-display-${++displaySeq}`;
    const res = await fetch(`${authUrl}/v1/displays`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorToken}` },
      body: JSON.stringify({ displayId, storeId: 'store-1', stations: ['grill'] }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as { displayId: string; enrollmentCode: string };
  }

  function counting(): { fetch: FetchFn; refreshes: () => number } {
    let refreshes = 0;
    return {
      fetch: (input, init) => {
        if (input.endsWith('/v1/token/refresh')) refreshes++;
        return globalThis.fetch(input, init);
      },
      refreshes: () => refreshes,
    };
  }

  it('enrolls with a code from POST /v1/displays and hands out an edge token for that display', async () => {
    const { displayId, enrollmentCode } = await register();
    const tokens = createTokenManager({ development: true, authUrl });
    managers.push(tokens);
    const info = await tokens.enroll(enrollmentCode);
    expect(info.displayId).toBe(displayId);
    // 15-minute default lifetime, refreshed 20 % (180 s) before expiry.
    expect(info.accessExpiresAt - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(info.accessExpiresAt - info.refreshAt).toBe(180_000);
    const token = await tokens.getAccessToken();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ typ: 'display', aud: 'edge', sub: displayId });

    // The code is single-use.
    const again = createTokenManager({ development: true, authUrl });
    managers.push(again);
    await expect(again.enroll(enrollmentCode)).rejects.toMatchObject({
      code: 'ORDERWIRE_ERR_SDK_ENROLL_FAILED',
      serverCode: 'ORDERWIRE_ERR_AUTH_ENROLLMENT_USED',
    });
  });

  it('100 concurrent callers on an expired token → one refresh, and the family survives', async () => {
    const { enrollmentCode } = await register();
    let clock = Date.now();
    const http = counting();
    const tokens = createTokenManager({ development: true, authUrl, fetch: http.fetch, now: () => clock });
    managers.push(tokens);
    await tokens.enroll(enrollmentCode);
    const before = await tokens.getAccessToken();
    clock += 16 * 60_000;

    const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getAccessToken()));

    expect(http.refreshes()).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).not.toBe(before);
    // Two refreshes racing with one refresh token would have tripped reuse detection and
    // revoked the family; it is alive: the next rotation works.
    await tokens.refresh();
    expect(http.refreshes()).toBe(2);
  });

  it('a replayed (stolen) refresh token revokes the family → reenroll_required, store cleared', async () => {
    const { enrollmentCode } = await register();
    const store = memoryTokenStore();
    const tokens = createTokenManager({ development: true, authUrl, store });
    managers.push(tokens);
    await tokens.enroll(enrollmentCode);
    const stolen = (await store.load())!.refreshToken;
    // Two rotations: the stolen token is no longer the one a lost response could explain
    // (auth's retry grace covers only the immediately previous token), so it is plain reuse.
    await tokens.refresh();
    await tokens.refresh();

    const replay = await fetch(`${authUrl}/v1/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: stolen }),
    });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('ORDERWIRE_ERR_AUTH_REFRESH_REUSED');

    const events: ReenrollInfo[] = [];
    tokens.on('reenroll_required', (info) => void events.push(info));
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED' });
    expect(events).toHaveLength(1);
    expect(events[0]!.reason).toMatch(/^ORDERWIRE_ERR_AUTH_REFRESH_/);
    expect(await store.load()).toBeUndefined();
  });

  it('a refresh whose response is lost is retried with the same token and the family survives', async () => {
    const { enrollmentCode } = await register();
    const store = memoryTokenStore();
    let dropped = 0;
    // The server rotates, then the network eats the answer: the SDK sees a network error.
    const lossyFetch: FetchFn = async (input, init) => {
      const res = await fetch(input, init);
      if (input.endsWith('/v1/token/refresh') && dropped === 0) {
        dropped++;
        await res.arrayBuffer();
        throw new TypeError('fetch failed: socket hang up');
      }
      return res;
    };
    const tokens = createTokenManager({ development: true, authUrl, store, fetch: lossyFetch, retry: { baseMs: 50, maxMs: 200 } });
    managers.push(tokens);
    const reenroll: ReenrollInfo[] = [];
    tokens.on('reenroll_required', (info) => void reenroll.push(info));
    await tokens.enroll(enrollmentCode);
    const before = (await store.load())!.refreshToken;

    await tokens.refresh();
    expect(dropped).toBe(1);
    expect(reenroll).toHaveLength(0);
    const after = (await store.load())!.refreshToken;
    expect(after).not.toBe(before);
    // The family is healthy: the next ordinary rotation works.
    await tokens.refresh();
    expect(reenroll).toHaveLength(0);
  });

  it('revoke() ends the family at the server', async () => {
    const { enrollmentCode } = await register();
    const store = memoryTokenStore();
    const tokens = createTokenManager({ development: true, authUrl, store });
    managers.push(tokens);
    await tokens.enroll(enrollmentCode);
    const { refreshToken } = (await store.load())!;
    await tokens.revoke();
    expect(await store.load()).toBeUndefined();
    const res = await fetch(`${authUrl}/v1/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken }),
    });
    expect(res.status).toBe(401);
  });
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${args.join(' ')} exited with ${code}:\n${out}`));
    });
  });
}
