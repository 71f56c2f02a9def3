/**
 * The signing keyring as a value: `previous`, `current`, `next`. Pure functions here; storage,
 * leases and timers live in the adapters next to this file.
 *
 * Timeline of one key with rotation interval I (and I >= every access-token TTL):
 *   t0        created as `next`   → published in the JWKS, signs nothing
 *   t0 + I    becomes `current`  → signs every new token
 *   t0 + 2I   becomes `previous` → signs nothing; still published, its tokens are still live
 *   t0 + 3I   dropped            → every token it signed expired at t0 + 2I + TTL <= t0 + 3I
 */
import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { EncryptedBlob, KekRing } from '../crypto/kek.js';

export const SIGNING_ALG = 'ES256';
export const SIGNING_CURVE = 'P-256';

/** Public half of an EC P-256 key, as published in the JWKS. */
export interface PublicSigningJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: typeof SIGNING_ALG;
  use: 'sig';
}

export interface StoredSigningKey {
  kid: string;
  alg: typeof SIGNING_ALG;
  createdAt: string;
  /** When it became `current`. */
  activatedAt?: string;
  /** When it stopped being `current`; tokens it signed expire at most one TTL later. */
  retiredAt?: string;
  publicJwk: PublicSigningJwk;
  /** The private JWK (JSON), sealed with the KEK; AAD is the kid. */
  privateKey: EncryptedBlob;
}

export interface KeyringRecord {
  v: 1;
  /** Bumped on every rotation; lets watchers and logs tell keyrings apart. */
  generation: number;
  /** When `current` became current; the next rotation is due one interval later. */
  rotatedAt: string;
  previous?: StoredSigningKey;
  current: StoredSigningKey;
  next: StoredSigningKey;
}

export interface RotationSafety {
  safe: boolean;
  /** The key a rotation would drop, when that is unsafe. */
  kid?: string;
  /** When dropping it becomes safe. */
  until?: string;
}

export async function generateSigningKey(kek: KekRing, now: Date): Promise<StoredSigningKey> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: SIGNING_CURVE });
  const pub = publicKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty: 'EC', crv: SIGNING_CURVE, x: pub.x!, y: pub.y! });
  const privJwk = privateKey.export({ format: 'jwk' });
  return {
    kid,
    alg: SIGNING_ALG,
    createdAt: now.toISOString(),
    publicJwk: { kty: 'EC', crv: SIGNING_CURVE, x: pub.x!, y: pub.y!, kid, alg: SIGNING_ALG, use: 'sig' },
    privateKey: kek.encrypt(Buffer.from(JSON.stringify(privJwk), 'utf8'), kid),
  };
}

export async function createKeyring(kek: KekRing, now: Date): Promise<KeyringRecord> {
  const current = await generateSigningKey(kek, now);
  current.activatedAt = now.toISOString();
  const next = await generateSigningKey(kek, now);
  return { v: 1, generation: 1, rotatedAt: now.toISOString(), current, next };
}

/** `next` → `current` → `previous`; the old `previous` is dropped and a fresh `next` made. */
export async function rotateKeyring(ring: KeyringRecord, kek: KekRing, now: Date): Promise<KeyringRecord> {
  const at = now.toISOString();
  return {
    v: 1,
    generation: ring.generation + 1,
    rotatedAt: at,
    previous: { ...ring.current, retiredAt: at },
    current: { ...ring.next, activatedAt: at },
    next: await generateSigningKey(kek, now),
  };
}

export function rotationDueAt(ring: KeyringRecord, intervalMs: number): number {
  return Date.parse(ring.rotatedAt) + intervalMs;
}

export function isRotationDue(ring: KeyringRecord, intervalMs: number, now: Date): boolean {
  return now.getTime() >= rotationDueAt(ring, intervalMs);
}

/**
 * A rotation drops `previous`. That is safe only once every token it signed has expired, i.e.
 * `maxTokenTtlMs` after it was retired. Scheduled rotations are always safe (interval >= TTL is
 * enforced by config); forced ones (CLI) are checked with this.
 */
export function rotationSafety(ring: KeyringRecord, maxTokenTtlMs: number, now: Date): RotationSafety {
  const prev = ring.previous;
  if (prev?.retiredAt === undefined) return { safe: true };
  const until = Date.parse(prev.retiredAt) + maxTokenTtlMs;
  return until <= now.getTime() ? { safe: true } : { safe: false, kid: prev.kid, until: new Date(until).toISOString() };
}

/** Public keys, `current` first (some verifiers try keys in order), then `next`, then `previous`. */
export function publicJwks(ring: KeyringRecord): { keys: PublicSigningJwk[] } {
  const keys = [ring.current.publicJwk, ring.next.publicJwk];
  if (ring.previous !== undefined) keys.push(ring.previous.publicJwk);
  return { keys };
}

export function decryptSigningKey(key: StoredSigningKey, kek: KekRing): KeyObject {
  const jwk = JSON.parse(kek.decrypt(key.privateKey, key.kid).toString('utf8')) as JsonWebKey;
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

/** Re-seals every private key with the current KEK. `changed` is false when nothing needed it. */
export function rekeyKeyring(ring: KeyringRecord, kek: KekRing): { ring: KeyringRecord; changed: boolean } {
  let changed = false;
  const reseal = (key: StoredSigningKey): StoredSigningKey => {
    if (kek.isCurrent(key.privateKey)) return key;
    changed = true;
    return { ...key, privateKey: kek.encrypt(kek.decrypt(key.privateKey, key.kid), key.kid) };
  };
  const out: KeyringRecord = { ...ring, current: reseal(ring.current), next: reseal(ring.next) };
  if (ring.previous !== undefined) out.previous = reseal(ring.previous);
  return { ring: out, changed };
}

/** Every KEK fingerprint the keyring still depends on (for `keys list` and rekey checks). */
export function keyringKekIds(ring: KeyringRecord): string[] {
  const ids = [ring.current.privateKey.kek, ring.next.privateKey.kek];
  if (ring.previous !== undefined) ids.push(ring.previous.privateKey.kek);
  return [...new Set(ids)];
}
