/**
 * End to end over real ports: the built `dist/main.js` as a child process, the admin CLI
 * (`dist/cli.js`) as an operator would run it, and plain HTTP clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { DISPLAY_AUDIENCE, displayConsumerName, legacyDisplayConsumerName } from '@orderwire/contracts';
import { kvDeclarations, listOrderStreams, streamDeclarations } from '@orderwire/platform';
import { freePort, startNats, waitFor } from '@orderwire/test-harness';
import { TEST_KEK, startInfra, type Infra } from './helpers.js';

const PKG = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(PKG, 'dist/main.js');
const CLI = join(PKG, 'dist/cli.js');

let infra: Infra;
let dir: string;
let port: number;
let child: ChildProcess | undefined;
let output = '';
let base: string;

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NATS_URL: infra.nats.url,
    REDIS_URL: infra.redis.url,
    AUTH_KEK: TEST_KEK,
    AUTH_JWKS_URL: `${base}/.well-known/jwks.json`,
    PORT: String(port),
    INSTANCE_ID: 'auth-e2e',
    LOG_LEVEL: 'info',
    // Default scrypt cost (2^15) is used here; a lower per-client budget keeps the brute-force check short.
    AUTH_RATE_LIMIT_TOKEN_PER_CLIENT: '10',
  };
}

/**
 * Bound of each test here: they run up to seven CLI processes, each a node start (~3 s on a
 * loaded 2-core box, far more beside a whole-stack suite: the repartition test (7 runs) and the
 * topology-apply test (3 runs) each timed out at vitest's 30 s default there). Every CLI run is
 * still bounded by its own 20 s kill timer.
 */
const CLI_TEST_TIMEOUT_MS = 90_000;

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...env(), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  expect(existsSync(MAIN), 'run `npm run build -w @orderwire/auth` first').toBe(true);
  infra = await startInfra();
  dir = mkdtempSync(join(tmpdir(), 'auth-e2e-'));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // The topology owner first, as npm start and Kubernetes run it; twice: it is idempotent.
  const applied = await cli(['topology', 'apply']);
  expect(applied.code, applied.stderr).toBe(0);
  expect(applied.stdout).toMatch(/^topology applied\n/);
  expect(applied.stdout).toMatch(/stream ORDERS_P0 +created/);
  expect(applied.stdout).toMatch(/stream ORDERS_P1 +created/);
  expect(applied.stdout).toMatch(/kv +ow_refresh_tokens +created/);
  const again = await cli(['topology', 'apply']);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout.match(/ created/g)).toBeNull();
  expect(again.stdout.match(/ unchanged/g)).toHaveLength(streamDeclarations().length + kvDeclarations().length);
  child = spawn(process.execPath, [MAIN], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    message: () => `auth /readyz; output:\n${output}`,
  });
});

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  await infra?.dispose();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Creds {
  tenant: string;
  upstream: { clientId: string; clientSecret: string; scopes: string[] };
  operator: { clientId: string; clientSecret: string; scopes: string[] };
  urls: { auth: string; ingest: string; edge: string[]; dlq: string; jwks: string };
}

async function token(c: { clientId: string; clientSecret: string }, scope?: string): Promise<Response> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (scope !== undefined) form.set('scope', scope);
  return fetch(`${base}/v1/oauth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}` },
    body: form,
  });
}

describe('auth service over HTTP, with the admin CLI', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('seed-dev writes a valid credentials file and is idempotent', async () => {
    const file = join(dir, '.data', 'dev-credentials.json');
    const first = await cli(['seed-dev', '--out', file]);
    expect(first.code, first.stderr).toBe(0);
    const creds = JSON.parse(readFileSync(file, 'utf8')) as Creds;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(creds).toMatchObject({
      tenant: 'demo',
      upstream: { scopes: ['orders:write', 'orders:read', 'webhooks:manage'] },
      operator: { scopes: ['displays:manage', 'dlq:read', 'dlq:replay'] },
      urls: {
        auth: base,
        ingest: 'http://127.0.0.1:3002',
        edge: ['http://127.0.0.1:3003', 'http://127.0.0.1:3013'],
        dlq: 'http://127.0.0.1:3004',
        jwks: `${base}/.well-known/jwks.json`,
      },
    });
    for (const c of [creds.upstream, creds.operator]) expect((await token(c)).status).toBe(200);

    const second = await cli(['seed-dev', '--out', file]);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ upstream: { reused: true }, operator: { reused: true } });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(creds);

    // A revoked client is replaced on the next seed; the still-valid one is kept.
    const revoked = await cli(['client', 'revoke', creds.upstream.clientId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await token(creds.upstream)).status).toBe(401);
    const third = await cli(['seed-dev', '--out', file]);
    const after = JSON.parse(readFileSync(file, 'utf8')) as Creds;
    expect(JSON.parse(third.stdout)).toMatchObject({ upstream: { reused: false }, operator: { reused: true } });
    expect(after.upstream.clientId).not.toBe(creds.upstream.clientId);
    expect(after.operator).toEqual(creds.operator);
    expect((await token(after.upstream)).status).toBe(200);
  });

  it('tenant and client commands; the secret is printed once and works', async () => {
    const tenant = await cli(['tenant', 'create', 'acme', '--name', 'Acme Foods']);
    expect(tenant.code, tenant.stderr).toBe(0);
    expect(JSON.parse(tenant.stdout)).toMatchObject({ tenant: 'acme', name: 'Acme Foods' });
    expect((await cli(['tenant', 'create', 'acme'])).stderr).toContain('ORDERWIRE_ERR_AUTH_TENANT_EXISTS');
    expect((await cli(['tenant', 'create', 'bad.id'])).code).toBe(1);

    const made = await cli(['client', 'create', '--tenant', 'acme', '--scopes', 'orders:write,orders:read', '--name', 'pos']);
    expect(made.code, made.stderr).toBe(0);
    const c = JSON.parse(made.stdout) as { clientId: string; clientSecret: string; scopes: string[] };
    expect(c.scopes).toEqual(['orders:write', 'orders:read']);
    const res = await token(c, 'orders:write');
    expect(res.status).toBe(200);

    const list = await cli(['client', 'list', '--tenant', 'acme']);
    expect(list.stdout).toContain(c.clientId);
    expect(list.stdout).not.toContain(c.clientSecret);
    expect(list.stdout).not.toContain('"hash"');

    const usage = await cli(['client', 'create', '--tenant', 'acme', '--scopes', 'root']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('ORDERWIRE_ERR_AUTH_CLI_USAGE');
    expect((await cli(['frobnicate'])).code).toBe(2);
  });

  it('display lifecycle over a real port; tokens verify against the served JWKS, also after a CLI rotation', async () => {
    const creds = JSON.parse(readFileSync(join(dir, '.data', 'dev-credentials.json'), 'utf8')) as Creds;
    const op = ((await (await token(creds.operator)).json()) as { access_token: string }).access_token;
    const reg = await fetch(`${base}/v1/displays`, {
      method: 'POST',
      headers: { authorization: `Bearer ${op}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayId: 'kitchen-1', storeId: 'store-1', stations: ['grill'] }),
    });
    expect(reg.status).toBe(201);
    const { enrollmentCode } = (await reg.json()) as { enrollmentCode: string };
    const en = await fetch(`${base}/v1/displays/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enrollmentCode }),
    });
    expect(en.status).toBe(200);
    expect(en.headers.get('cache-control')).toBe('no-store');
    const tokens = (await en.json()) as { accessToken: string; refreshToken: string };

    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`), { cacheMaxAge: 0, cooldownDuration: 0 });
    const check = (tok: string) => jwtVerify(tok, jwks, { issuer: 'orderwire-auth', audience: DISPLAY_AUDIENCE });

    const rotated = await cli(['keys', 'rotate', '--force']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const ring = JSON.parse(rotated.stdout) as { keys: { role: string; kid: string }[] };
    // The running service picks the rotation up through its keyring watch.
    await waitFor(async () => {
      const doc = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      return doc.keys.map((k) => k.kid).join() === ring.keys.map((k) => k.kid).join();
    }, { timeoutMs: 3_000, message: 'service adopting the CLI rotation' });
    expect((await check(tokens.accessToken)).payload.sub).toBe('kitchen-1');

    const r = await fetch(`${base}/v1/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: tokens.refreshToken }),
    });
    expect(r.status).toBe(200);
    const refreshed = (await r.json()) as { accessToken: string };
    const v = await check(refreshed.accessToken);
    expect(v.protectedHeader.kid).toBe(ring.keys.find((k) => k.role === 'current')!.kid);

    const list = await cli(['keys', 'list']);
    const listed = JSON.parse(list.stdout) as { needsRekey: boolean; keys: unknown[] };
    expect(listed.needsRekey).toBe(false);
    expect(listed.keys).toHaveLength(3);
  });

  it('consumers migrate moves a legacy-named mailbox with its backlog (dry run first), on a system still on the legacy ORDERS', async () => {
    const other = await startNats();
    const nc = await connect({ servers: other.url });
    try {
      // A pre-partition system: the buckets, and ORDERS on orders.> with the old subject layout.
      expect((await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '' })).code).toBe(0);
      const jsm = await jetstreamManager(nc);
      for (const name of await listOrderStreams(jsm)) await jsm.streams.delete(name);
      await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'], storage: StorageType.File });
      const js = jetstream(nc);
      const legacy = legacyDisplayConsumerName('demo', 'old-kds');
      await jsm.consumers.add('ORDERS', {
        durable_name: legacy,
        filter_subjects: ['orders.demo.s1.grill', 'orders.demo.s1.display.old-kds'],
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
      });
      for (let i = 1; i <= 3; i++) await js.publish('orders.demo.s1.grill', `o${i}`);

      const dry = await cli(['consumers', 'migrate', '--dry-run'], { NATS_URL: other.url });
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ summary: { migrated: 1 }, results: [{ consumer: legacy, outcome: 'migrated' }] });
      await jsm.consumers.info('ORDERS', legacy);
      // The repartition refuses while a legacy name is left.
      const early = await cli(['topology', 'repartition'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(early.code).toBe(1);
      expect(early.stderr).toContain('consumers migrate --force');

      const run = await cli(['consumers', 'migrate'], { NATS_URL: other.url });
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ summary: { migrated: 1 }, results: [{ newName: displayConsumerName('demo', 'old-kds') }] });
      await expect(jsm.consumers.info('ORDERS', legacy)).rejects.toThrow(/consumer not found/);
      const c = await js.consumers.get('ORDERS', displayConsumerName('demo', 'old-kds'));
      const got: string[] = [];
      for await (const m of await c.fetch({ max_messages: 10, expires: 1_000 })) got.push(m.string());
      expect(got).toEqual(['o1', 'o2', 'o3']);
    } finally {
      await nc.close();
      await other.dispose();
    }
  });

  it('brute force over HTTP is throttled', async () => {
    let last = 0;
    for (let i = 0; i < 20 && last !== 429; i++) {
      last = (await token({ clientId: 'owc_brute', clientSecret: `guess${i}` })).status;
    }
    expect(last).toBe(429);
  });

  it('topology apply needs no KEK, and refuses a conflict with a clear message and exit 1, changing nothing', async () => {
    const other = await startNats();
    try {
      const nc = await connect({ servers: other.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'ORDERS_P0', subjects: ['orders.0.>'], storage: StorageType.Memory });
      const res = await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(res.code).toBe(1);
      // Another P on the server is refused first, pointing at the repartition.
      expect(res.stderr).toMatch(/topology apply failed: ORDERWIRE_ERR_TOPOLOGY_PARTITIONS: .*topology repartition --partitions 2/);
      await jsm.streams.update('ORDERS_P0', { ...(await jsm.streams.info('ORDERS_P0')).config, subjects: Array.from({ length: 128 }, (_, i) => `orders.${2 * i}.>`) });
      const conflict = await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(conflict.code).toBe(1);
      expect(conflict.stderr).toMatch(/topology apply failed: ORDERWIRE_ERR_TOPOLOGY_CONFLICT: .*ORDERS_P0.*storage: existing memory, declared file/);
      const names: string[] = [];
      for await (const n of jsm.streams.names()) names.push(n);
      expect(names).toEqual(['ORDERS_P0']);
      // A bad setting is named before anything is touched.
      const bad = await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_REFRESH_TTL: '60d', JETSTREAM_KV_REFRESH_TOKENS_TTL: '30d' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('JETSTREAM_KV_REFRESH_TOKENS_TTL: must be 0 (forever) or >= AUTH_REFRESH_TTL');
      await nc.close();
    } finally {
      await other.dispose();
    }
  });

  it('topology repartition adopts a legacy ORDERS, then moves 2 → 4 partitions; apply agrees with the new P only', async () => {
    const other = await startNats();
    try {
      const nc = await connect({ servers: other.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'], storage: StorageType.File });
      const refused = await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/ORDERWIRE_ERR_TOPOLOGY_LEGACY_ORDERS: .*orderwire-auth topology repartition/);
      const plan = await cli(['topology', 'repartition', '--dry-run'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('legacy ORDERS adopted');
      expect((await jsm.streams.info('ORDERS')).config.subjects).toEqual(['orders.>']); // a dry run changes nothing
      const adopt = await cli(['topology', 'repartition'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(adopt.code, adopt.stderr).toBe(0);
      expect(adopt.stdout).toMatch(/ORDERS_P1 +← 128 vps from ORDERS/);
      const grow = await cli(['topology', 'repartition', '--partitions', '4'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(grow.code, grow.stderr).toBe(0);
      expect(grow.stdout).toMatch(/ORDERS_P3 +← +64 vps from ORDERS_P1/);
      expect((await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '' })).code).toBe(1);
      expect((await cli(['topology', 'apply'], { NATS_URL: other.url, AUTH_KEK: '', JETSTREAM_ORDER_PARTITIONS: '4' })).code).toBe(0);
      const bad = await cli(['topology', 'repartition', '--partitions', '3'], { NATS_URL: other.url, AUTH_KEK: '' });
      expect(bad.code).not.toBe(0);
      await nc.close();
    } finally {
      await other.dispose();
    }
  });

  it('exits cleanly on SIGTERM and never logged a secret', async () => {
    const creds = JSON.parse(readFileSync(join(dir, '.data', 'dev-credentials.json'), 'utf8')) as Creds;
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('shutdown complete');
    expect(output).not.toContain(creds.operator.clientSecret);
    expect(output).not.toContain(creds.upstream.clientSecret);
  });
});
