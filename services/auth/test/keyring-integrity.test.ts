/**
 * Issue 12, item 2: whoever can write the keyring bucket must not be able to publish a signing
 * key. The stored keyring is tampered with directly in KV, in each way an attacker would; the
 * JWKS never serves the forged key, the keyring is refused loudly (metric, unhealthy), a new
 * replica refuses to start on it, and a token signed with the forged key is refused by the
 * token verifier exactly as ingest, dlq (client tokens) and edge (display tokens) use it.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { SignJWT, calculateJwkThumbprint, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_AUDIENCE, DISPLAY_AUDIENCE } from '@orderwire/contracts';
import { KV_BUCKETS } from '@orderwire/platform';
import { waitFor } from '@orderwire/test-harness';
import { createTokenVerifier, type TokenVerifier } from '@orderwire/token-verifier';
import { createKekRing } from '../src/crypto/kek.js';
import { KEYRING_KEY } from '../src/keys/key-manager.js';
import { relabelKeyring, verifyKeyring, type KeyringRecord, type StoredSigningKey } from '../src/keys/keyring.js';
import { startAuth, startInfra, TEST_KEK, type Infra, type TestAuth } from './helpers.js';

let infra: Infra;
let t: TestAuth;
let base: string;
let kv: KV;
let genuine: KeyringRecord;

beforeAll(async () => {
  infra = await startInfra();
  t = await startAuth(infra);
  base = await t.auth.app.listen({ host: '127.0.0.1', port: 0 });
  kv = await new Kvm(t.nc).open(KV_BUCKETS.SIGNING_KEYS);
  genuine = (await kv.get(KEYRING_KEY))!.json<KeyringRecord>();
});

afterAll(async () => {
  await t?.close();
  await infra?.dispose();
});

/** An attacker's own P-256 key: private key for signing, public JWK and its thumbprint. */
async function foreignKey(): Promise<{ privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']; x: string; y: string; thumbprint: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  return { privateKey, x: jwk.x!, y: jwk.y!, thumbprint: await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }) };
}

function withPublic(key: StoredSigningKey, x: string, y: string, kid: string): StoredSigningKey {
  return { ...key, kid, publicJwk: { ...key.publicJwk, x, y, kid } };
}

async function jwksKeys(): Promise<{ kid: string; x: string; y: string }[]> {
  return ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string; x: string; y: string }[] }).keys;
}

async function metric(name: string, label = ''): Promise<number> {
  const text = await t.auth.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
  const m = new RegExp(`^${name}(\\{[^}]*${label}[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[2]);
}

/** Fresh verifiers, as ingest/dlq (client tokens) and edge (display tokens) build them; no caching of verified tokens. */
function verifiers(): { api: TokenVerifier; edge: TokenVerifier } {
  const common = { jwksUrl: `${base}/.well-known/jwks.json`, issuer: t.config.issuer, cooldownMs: 0, cacheMaxAgeMs: 0, verifiedTokenTtlMs: 0 };
  return { api: createTokenVerifier({ ...common, audience: API_AUDIENCE }), edge: createTokenVerifier({ ...common, audience: DISPLAY_AUDIENCE }) };
}

/** Client and display tokens for any tenant and every scope, signed by the attacker. */
async function forgedTokens(key: Awaited<ReturnType<typeof foreignKey>>, kid: string): Promise<{ client: string; display: string }> {
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, aud: string): Promise<string> =>
    new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(t.config.issuer)
      .setAudience(aud)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key.privateKey);
  return {
    client: await sign({ typ: 'client', sub: 'evil', tid: 'victim', scope: 'orders:write orders:read dlq:read dlq:replay displays:manage' }, API_AUDIENCE),
    display: await sign({ typ: 'display', sub: 'kds-1', tid: 'victim', sid: 's1', stn: ['grill'], fam: 'f' }, DISPLAY_AUDIENCE),
  };
}

async function expectRefusedEverywhere(tokens: { client: string; display: string }): Promise<void> {
  const v = verifiers();
  await expect(v.api.verifyClientToken(tokens.client, ['orders:write'])).rejects.toMatchObject({ name: 'TokenError' });
  await expect(v.edge.verifyDisplayToken(tokens.display)).rejects.toMatchObject({ name: 'TokenError' });
}

describe('keyring integrity', () => {
  it('the genuine keyring passes, and its JWKS is derived from the sealed private keys', async () => {
    const kek = createKekRing(Buffer.from(TEST_KEK, 'base64'));
    const v = await verifyKeyring(genuine, kek);
    expect(v.ok).toBe(true);
    const served = await jwksKeys();
    expect(served.map((k) => k.kid)).toEqual([genuine.current.kid, genuine.next.kid]);
    for (const k of served) expect(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: k.x, y: k.y })).toBe(k.kid);
    expect(await metric('orderwire_auth_keyring_integrity_ok')).toBe(1);
  });

  const tampers: { name: string; problem: string; forge: (key: Awaited<ReturnType<typeof foreignKey>>) => { ring: KeyringRecord; kid: string } }[] = [
    {
      name: 'a foreign key under a new kid (its own thumbprint), in the next slot',
      problem: 'undecryptable',
      forge: (key) => ({ ring: { ...genuine, next: withPublic(genuine.next, key.x, key.y, key.thumbprint) }, kid: key.thumbprint }),
    },
    {
      name: 'a foreign key under a new kid, added as previous',
      problem: 'undecryptable',
      forge: (key) => ({ ring: { ...genuine, previous: withPublic(genuine.current, key.x, key.y, key.thumbprint) }, kid: key.thumbprint }),
    },
    {
      name: 'a foreign key under the existing next kid',
      problem: 'public_key_mismatch',
      forge: (key) => ({ ring: { ...genuine, next: withPublic(genuine.next, key.x, key.y, genuine.next.kid) }, kid: genuine.next.kid }),
    },
    {
      name: 'a foreign key under the existing current kid',
      problem: 'public_key_mismatch',
      forge: (key) => ({ ring: { ...genuine, current: withPublic(genuine.current, key.x, key.y, genuine.current.kid) }, kid: genuine.current.kid }),
    },
    {
      name: 'swapped kids: current and next exchange their kids',
      problem: 'undecryptable',
      forge: () => ({
        ring: {
          ...genuine,
          current: { ...genuine.current, kid: genuine.next.kid, publicJwk: { ...genuine.current.publicJwk, kid: genuine.next.kid } },
          next: { ...genuine.next, kid: genuine.current.kid, publicJwk: { ...genuine.next.publicJwk, kid: genuine.current.kid } },
        },
        kid: genuine.next.kid,
      }),
    },
    {
      name: 'swapped public keys: each kid now names the other key',
      problem: 'public_key_mismatch',
      forge: () => ({
        ring: {
          ...genuine,
          current: { ...genuine.current, publicJwk: { ...genuine.next.publicJwk, kid: genuine.current.kid } },
          next: { ...genuine.next, publicJwk: { ...genuine.current.publicJwk, kid: genuine.next.kid } },
        },
        kid: genuine.current.kid,
      }),
    },
  ];

  it.each(tampers)('refuses $name: never served, alerted, and a token signed with it is refused everywhere', async ({ forge, problem }) => {
    const key = await foreignKey();
    const { ring, kid } = forge(key);
    const failuresBefore = await metric('orderwire_auth_keyring_integrity_failures_total', `problem="${problem}"`);
    const servedBefore = await jwksKeys();

    await kv.put(KEYRING_KEY, JSON.stringify({ ...ring, generation: ring.generation + 1 }));
    await waitFor(async () => (await metric('orderwire_auth_keyring_integrity_ok')) === 0, { timeoutMs: 5_000 });
    expect(await metric('orderwire_auth_keyring_integrity_failures_total', `problem="${problem}"`)).toBeGreaterThan(failuresBefore);
    expect((await t.auth.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);

    // The JWKS is still the last proven one: the forged key is not in it.
    const served = await jwksKeys();
    expect(served).toEqual(servedBefore);
    expect(served.some((k) => k.x === key.x)).toBe(false);
    await expectRefusedEverywhere(await forgedTokens(key, kid));

    // A replica starting now refuses the keyring instead of serving it.
    await expect(startAuth(infra)).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_KEYRING_INTEGRITY' });
    // Nor is it rotated or rekeyed into a new keyring (which would carry the forged key on).
    const revision = (await kv.get(KEYRING_KEY))!.revision;
    await expect(t.auth.ctx.keys.rotateNow({ maxTokenTtlMs: 0, force: true })).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_KEYRING_INTEGRITY' });
    await expect(t.auth.ctx.keys.rekey()).rejects.toMatchObject({ code: 'ORDERWIRE_ERR_AUTH_KEYRING_INTEGRITY' });
    expect((await kv.get(KEYRING_KEY))!.revision).toBe(revision);

    // The genuine keyring written back is adopted again.
    await kv.put(KEYRING_KEY, JSON.stringify({ ...genuine, generation: genuine.generation + 2 }));
    await waitFor(async () => (await metric('orderwire_auth_keyring_integrity_ok')) === 1, { timeoutMs: 5_000 });
    expect((await t.auth.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('relabels a genuine key stored under a kid that is not its thumbprint (older format), and nothing else', async () => {
    const kek = createKekRing(Buffer.from(TEST_KEK, 'base64'));
    // An old-format key: sealed under a free-form kid that is not the thumbprint.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const oldKid = 'key-2025-01';
    const old: StoredSigningKey = {
      kid: oldKid,
      alg: 'ES256',
      createdAt: new Date().toISOString(),
      publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, kid: oldKid, alg: 'ES256', use: 'sig' },
      privateKey: kek.encrypt(Buffer.from(JSON.stringify(jwk)), oldKid),
    };
    const ring: KeyringRecord = { ...genuine, next: old };
    expect(await verifyKeyring(ring, kek)).toMatchObject({ ok: false, failures: [{ slot: 'next', kid: oldKid, problem: 'kid_not_thumbprint' }] });
    const { ring: fixed, relabelled } = await relabelKeyring(ring, kek);
    expect(relabelled).toEqual([oldKid]);
    expect(fixed.next.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }));
    expect((await verifyKeyring(fixed, kek)).ok).toBe(true);

    // A forged key is never "relabelled" into validity.
    const key = await foreignKey();
    const forged: KeyringRecord = { ...genuine, next: withPublic(genuine.next, key.x, key.y, genuine.next.kid) };
    expect((await relabelKeyring(forged, kek)).changed).toBe(false);
    expect((await verifyKeyring((await relabelKeyring(forged, kek)).ring, kek)).ok).toBe(false);
  });
});
