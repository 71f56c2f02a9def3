import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_AUDIENCE } from '@orderwire/contracts';
import { KV_BUCKETS, ensureTopology } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { createKekRing, kekFingerprint } from '../src/crypto/kek.js';
import { KEYRING_KEY, createKeyManager } from '../src/keys/key-manager.js';
import type { KeyringRecord } from '../src/keys/keyring.js';
import { ROTATION_LEASE_KEY } from '../src/keys/rotator.js';
import { clientToken, makeClient, silentLogger, startAuth, startInfra, TEST_KEK, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
const open: TestAuth[] = [];

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  for (const t of open) await t.close().catch(() => undefined);
  await infra?.dispose();
});

async function auth(env: Record<string, string> = {}, options: { rotation?: boolean } = {}): Promise<TestAuth> {
  const t = await startAuth(infra, env, options);
  open.push(t);
  return t;
}

async function rawKeyring(t: TestAuth): Promise<{ text: string; ring: KeyringRecord; history: string[] }> {
  const kv = await new Kvm(t.nc).open(KV_BUCKETS.SIGNING_KEYS);
  const entry = (await kv.get(KEYRING_KEY))!;
  const history: string[] = [];
  for await (const e of await kv.history({ key: KEYRING_KEY })) history.push(e.string());
  return { text: entry.string(), ring: entry.json<KeyringRecord>(), history };
}

function rotations(text: string): number {
  const m = /orderwire_auth_key_rotations_total\{[^}]*\} (\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

describe('keyring bootstrap', () => {
  it('concurrent first replicas agree on one keyring (KV create wins once)', async () => {
    const nc = await connect({ servers: infra.nats.url });
    try {
      await ensureTopology(nc, { buckets: [KV_BUCKETS.SIGNING_KEYS], streams: [] });
      const kv = await new Kvm(nc).open(KV_BUCKETS.SIGNING_KEYS);
      const jsm = await jetstreamManager(nc);
      const kek = createKekRing(Buffer.from(TEST_KEK, 'base64'));
      const managers = Array.from({ length: 4 }, () => createKeyManager({ kv, jsm, kek, logger: silentLogger() }));
      await Promise.all(managers.map((m) => m.start()));
      const kids = new Set(managers.map((m) => m.signer().kid));
      expect(kids.size).toBe(1);
      managers.forEach((m) => m.stop());
    } finally {
      await nc.close();
    }
  });
});

describe('signing keys at rest', () => {
  it('stores private keys encrypted: no private JWK field in clear, KEK fingerprint recorded', async () => {
    const t = await auth();
    const { text, ring } = await rawKeyring(t);
    expect(text).not.toMatch(/"d"\s*:/);
    for (const key of [ring.current, ring.next]) {
      expect(key.privateKey).toMatchObject({ alg: 'A256GCM', kek: kekFingerprint(Buffer.from(TEST_KEK, 'base64')) });
      expect(Object.keys(key.publicJwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }
    // The sealed key decrypts only with the KEK and only under its own kid.
    const kek = createKekRing(Buffer.from(TEST_KEK, 'base64'));
    expect(JSON.parse(kek.decrypt(ring.current.privateKey, ring.current.kid).toString('utf8'))).toHaveProperty('d');
    expect(() => kek.decrypt(ring.current.privateKey, ring.next.kid)).toThrow(/cannot be decrypted/);
    expect(() => createKekRing(randomBytes(32)).decrypt(ring.current.privateKey, ring.current.kid)).toThrow(/cannot be decrypted/);
  });
});

describe('rotation', () => {
  it('JWKS publishes previous, current and next; tokens signed before rotations verify remotely', async () => {
    // The refresh retry grace must fit in the (here 1s) display-token life.
    const t = await auth({
      AUTH_CLIENT_TOKEN_TTL: '1s',
      AUTH_DISPLAY_TOKEN_TTL: '1s',
      AUTH_REFRESH_RETRY_GRACE: '1s',
      AUTH_KEY_ROTATION_INTERVAL: '1h',
    });
    const address = await t.auth.app.listen({ host: '127.0.0.1', port: 0 });
    const client = await makeClient(t, ['orders:read']);
    const before = await clientToken(t, client);
    const ring0 = t.auth.ctx.keys.current()!.value;

    // Rotation 1: next → current; a forced rotation is allowed once previous has aged out.
    await t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 1_000 });
    const jwks = createRemoteJWKSet(new URL(`${address}/.well-known/jwks.json`), { cacheMaxAge: 0, cooldownDuration: 0 });
    const res = await fetch(`${address}/.well-known/jwks.json`);
    expect(res.headers.get('cache-control')).toBe(`public, max-age=${t.config.jwksMaxAgeSeconds}`);
    const etag = res.headers.get('etag')!;
    const doc = (await res.json()) as { keys: { kid: string; use: string; alg: string }[] };
    expect(doc.keys.map((k) => k.kid)).toEqual([ring0.next.kid, t.auth.ctx.keys.current()!.value.next.kid, ring0.current.kid]);
    expect(doc.keys.every((k) => k.use === 'sig' && k.alg === 'ES256')).toBe(true);
    expect((await fetch(`${address}/.well-known/jwks.json`, { headers: { 'if-none-match': etag } })).status).toBe(304);

    // The pre-rotation token (kid = now `previous`) still verifies against the live JWKS.
    // (1 s tokens: the verifier's usual clock-skew allowance keeps them valid for this check.)
    const verified = await jwtVerify(before, jwks, {
      issuer: t.config.issuer,
      audience: API_AUDIENCE,
      algorithms: ['ES256'],
      clockTolerance: 5,
    });
    expect(verified.protectedHeader.kid).toBe(ring0.current.kid);

    // A token from the new current key verifies too.
    const after = await clientToken(t, client);
    expect((await jwtVerify(after, jwks, { audience: API_AUDIENCE, clockTolerance: 5 })).protectedHeader.kid).toBe(ring0.next.kid);

    // Too soon for another rotation: it would drop a key whose tokens may be live.
    await expect(t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 60_000 })).rejects.toMatchObject({
      code: 'ORDERWIRE_ERR_AUTH_ROTATION_UNSAFE',
    });
    await new Promise((r) => setTimeout(r, 1_100));
    await t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 1_000 });
    const kids = ((await (await fetch(`${address}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(kids).toHaveLength(3);
    expect(kids).not.toContain(ring0.current.kid);
    expect(kids[2]).toBe(ring0.next.kid);
  });

  it('two replicas: only the lease holder rotates, both serve the same JWKS', async () => {
    const env = {
      AUTH_CLIENT_TOKEN_TTL: '1s',
      AUTH_DISPLAY_TOKEN_TTL: '1s',
      AUTH_REFRESH_RETRY_GRACE: '1s',
      AUTH_KEY_ROTATION_INTERVAL: '1500ms',
      AUTH_KEY_ROTATION_CHECK: '100ms',
      AUTH_LEASE_TTL: '3s',
      AUTH_JWKS_MAX_AGE: '1',
    };
    const a = await auth({ ...env, INSTANCE_ID: 'auth-a' }, { rotation: true });
    const b = await auth({ ...env, INSTANCE_ID: 'auth-b' }, { rotation: true });
    const startGen = a.auth.ctx.keys.current()!.value.generation;
    await waitFor(() => (a.auth.ctx.keys.current()?.value.generation ?? 0) >= startGen + 3, {
      timeoutMs: 15_000,
      message: 'three scheduled rotations',
    });
    const counts = [rotations(await a.auth.metrics.text()), rotations(await b.auth.metrics.text())];
    expect(counts.filter((c) => c > 0)).toHaveLength(1);
    expect(counts[0]! + counts[1]!).toBeGreaterThanOrEqual(3);
    expect([a.auth.rotator.isLeader(), b.auth.rotator.isLeader()].filter(Boolean)).toHaveLength(1);

    const jwksOf = async (t: TestAuth) => {
      const res = await t.auth.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      return { etag: res.headers.etag, body: res.body };
    };
    const same = await waitFor(async () => {
      const [ja, jb] = await Promise.all([jwksOf(a), jwksOf(b)]);
      return ja.etag === jb.etag && ja.body === jb.body ? ja : undefined;
    }, { timeoutMs: 3_000, message: 'replicas serving the same JWKS' });
    expect((JSON.parse(same!.body) as { keys: unknown[] }).keys).toHaveLength(3);
    expect(a.auth.ctx.keys.signer().kid).toBe(b.auth.ctx.keys.signer().kid);

    // The leader stops (releases the lease): the other takes over and keeps rotating.
    const [leader, follower] = a.auth.rotator.isLeader() ? [a, b] : [b, a];
    await leader.auth.close();
    const genAtHandover = follower.auth.ctx.keys.current()!.value.generation;
    await waitFor(() => follower.auth.rotator.isLeader(), { timeoutMs: 5_000, message: 'lease takeover' });
    await waitFor(() => follower.auth.ctx.keys.current()!.value.generation > genAtHandover, {
      timeoutMs: 5_000,
      message: 'rotation by the new leader',
    });
    expect(rotations(await follower.auth.metrics.text())).toBeGreaterThan(0);
    const leases = await new Kvm(follower.nc).open(KV_BUCKETS.LEASES);
    expect((await leases.get(ROTATION_LEASE_KEY))!.json<{ holder: string }>().holder).toMatch(new RegExp(`^${follower.config.instanceId}/`));
    await follower.auth.close();
  });
});

describe('KEK rotation', () => {
  it('rekey re-encrypts with the new KEK, purges old revisions, and the old KEK alone no longer works', async () => {
    const oldKek = TEST_KEK;
    const newKek = randomBytes(32).toString('base64');
    const first = await auth();
    await first.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 0 }); // some history sealed with the old KEK
    const kid = first.auth.ctx.keys.signer().kid;

    // Step 1 of the runbook: deploy AUTH_KEK=new, AUTH_KEK_PREVIOUS=old. It reads the old keys.
    const rolling = await auth({ AUTH_KEK: newKek, AUTH_KEK_PREVIOUS: oldKek });
    expect(rolling.auth.ctx.keys.signer().kid).toBe(kid);
    // Step 2: rekey.
    const { changed } = await rolling.auth.ctx.keys.rekey();
    expect(changed).toBe(true);
    const { ring, history } = await rawKeyring(rolling);
    const newId = kekFingerprint(Buffer.from(newKek, 'base64'));
    for (const key of [ring.previous!, ring.current, ring.next]) expect(key.privateKey.kek).toBe(newId);
    expect(history).toHaveLength(1);
    expect(history.join('')).not.toContain(kekFingerprint(Buffer.from(oldKek, 'base64')));
    expect((await rolling.auth.ctx.keys.rekey()).changed).toBe(false);

    // Step 3: drop AUTH_KEK_PREVIOUS. A replica with only the new KEK works…
    const fresh = await auth({ AUTH_KEK: newKek });
    expect(fresh.auth.ctx.keys.signer().kid).toBe(kid);
    // …and one with only the old KEK cannot load the keys.
    await expect(startAuth(infra, { AUTH_KEK: oldKek })).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_KEY_DECRYPT' });
  });
});
