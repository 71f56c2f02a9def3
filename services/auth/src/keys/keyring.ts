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
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
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

/*
 * Integrity. Whoever can write the keyring bucket must not be able to publish a key: the JWKS
 * is never built from the stored public keys. Each key's private half is decrypted with the KEK
 * (AES-GCM, AAD = kid, so a sealed key cannot be moved under another kid), its public half is
 * DERIVED from it, the kid must be that public key's RFC 7638 thumbprint, and the stored public
 * JWK and kid must agree with both. A keyring any of whose keys fails is refused as a whole.
 */

export const KEY_SLOTS = ['current', 'next', 'previous'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

/** Why a stored key was refused (metric label `problem`). */
export const KEY_INTEGRITY_PROBLEMS = [
  /** Not sealed by the KEK under this kid (foreign ciphertext, moved blob, wrong KEK). */
  'undecryptable',
  /** The stored public key is not the one of the sealed private key. */
  'public_key_mismatch',
  /** The kid is not the RFC 7638 thumbprint of the key (old format, or relabelled). */
  'kid_not_thumbprint',
  /** The record's fields disagree (kid vs publicJwk.kid, algorithm, curve) or two slots share a kid. */
  'malformed',
] as const;
export type KeyIntegrityProblem = (typeof KEY_INTEGRITY_PROBLEMS)[number];

export interface KeyIntegrityFailure {
  slot: KeySlot;
  kid: string;
  problem: KeyIntegrityProblem;
}

/** A key proven by the KEK: the private key, and the public JWK derived from it. */
export interface VerifiedSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: PublicSigningJwk;
}

export interface VerifiedKeyring {
  current: VerifiedSigningKey;
  next: VerifiedSigningKey;
  previous?: VerifiedSigningKey;
}

export type KeyringVerification = { ok: true; keys: VerifiedKeyring } | { ok: false; failures: KeyIntegrityFailure[] };

/** The public JWK (EC P-256) of a private key, and its RFC 7638 thumbprint. */
async function derivePublic(privateKey: KeyObject): Promise<{ x: string; y: string; thumbprint: string }> {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  if (pub.kty !== 'EC' || pub.crv !== SIGNING_CURVE || pub.x === undefined || pub.y === undefined) throw new TypeError('not an EC P-256 key');
  return { x: pub.x, y: pub.y, thumbprint: await calculateJwkThumbprint({ kty: 'EC', crv: SIGNING_CURVE, x: pub.x, y: pub.y }) };
}

/** Decrypts the private key with the KEK (AAD = the stored kid). @throws ORDERWIRE_ERR_AUTH_KEY_DECRYPT */
export function decryptSigningKey(key: StoredSigningKey, kek: KekRing): KeyObject {
  const jwk = JSON.parse(kek.decrypt(key.privateKey, key.kid).toString('utf8')) as JsonWebKey;
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

/** Proves one stored key by the KEK; see the block comment above. */
export async function verifySigningKey(
  key: StoredSigningKey,
  kek: KekRing,
): Promise<{ ok: true; key: VerifiedSigningKey } | { ok: false; problem: KeyIntegrityProblem }> {
  if (typeof key !== 'object' || key === null || typeof key.kid !== 'string' || key.alg !== SIGNING_ALG) return { ok: false, problem: 'malformed' };
  const stored = key.publicJwk as Partial<PublicSigningJwk> | undefined;
  let privateKey: KeyObject;
  try {
    privateKey = decryptSigningKey(key, kek);
  } catch {
    return { ok: false, problem: 'undecryptable' };
  }
  let derived: { x: string; y: string; thumbprint: string };
  try {
    derived = await derivePublic(privateKey);
  } catch {
    return { ok: false, problem: 'malformed' };
  }
  if (stored?.x !== derived.x || stored.y !== derived.y) return { ok: false, problem: 'public_key_mismatch' };
  if (key.kid !== derived.thumbprint) return { ok: false, problem: 'kid_not_thumbprint' };
  if (stored.kid !== key.kid || stored.kty !== 'EC' || stored.crv !== SIGNING_CURVE || stored.alg !== SIGNING_ALG) {
    return { ok: false, problem: 'malformed' };
  }
  return {
    ok: true,
    key: {
      kid: key.kid,
      privateKey,
      publicJwk: { kty: 'EC', crv: SIGNING_CURVE, x: derived.x, y: derived.y, kid: key.kid, alg: SIGNING_ALG, use: 'sig' },
    },
  };
}

/** Proves every key of the keyring; any failure refuses the whole keyring. */
export async function verifyKeyring(ring: KeyringRecord, kek: KekRing): Promise<KeyringVerification> {
  const failures: KeyIntegrityFailure[] = [];
  const verified: Partial<Record<KeySlot, VerifiedSigningKey>> = {};
  const seen = new Set<string>();
  for (const slot of KEY_SLOTS) {
    const key = (ring as unknown as Partial<Record<KeySlot, StoredSigningKey>>)[slot];
    if (key === undefined) {
      if (slot !== 'previous') failures.push({ slot, kid: '', problem: 'malformed' });
      continue;
    }
    const r = await verifySigningKey(key, kek);
    const kid = typeof key.kid === 'string' ? key.kid : '';
    if (!r.ok) failures.push({ slot, kid, problem: r.problem });
    else if (seen.has(r.key.kid)) failures.push({ slot, kid, problem: 'malformed' });
    else {
      seen.add(r.key.kid);
      verified[slot] = r.key;
    }
  }
  if (failures.length > 0) return { ok: false, failures };
  const keys: VerifiedKeyring = { current: verified.current!, next: verified.next! };
  if (verified.previous !== undefined) keys.previous = verified.previous;
  return { ok: true, keys };
}

/** Public keys, `current` first (some verifiers try keys in order), then `next`, then `previous` — derived, never stored ones. */
export function publicJwks(keys: VerifiedKeyring): { keys: PublicSigningJwk[] } {
  const out = [keys.current.publicJwk, keys.next.publicJwk];
  if (keys.previous !== undefined) out.push(keys.previous.publicJwk);
  return { keys: out };
}

/**
 * Migration of keys stored with a kid that is not their thumbprint (an older format): a key that
 * the KEK proves (it decrypts under its stored kid and its stored public key is its own) is
 * relabelled with its thumbprint and sealed again under it. Anything else is left to fail the
 * verification. `changed` is false when there was nothing to relabel. Tokens signed under an old
 * kid no longer verify afterwards; clients get new ones (displays refresh in-band).
 */
export async function relabelKeyring(ring: KeyringRecord, kek: KekRing): Promise<{ ring: KeyringRecord; changed: boolean; relabelled: string[] }> {
  const relabelled: string[] = [];
  const relabel = async (key: StoredSigningKey): Promise<StoredSigningKey> => {
    let privateKey: KeyObject;
    let derived: { x: string; y: string; thumbprint: string };
    try {
      privateKey = decryptSigningKey(key, kek);
      derived = await derivePublic(privateKey);
    } catch {
      return key;
    }
    if (key.kid === derived.thumbprint || key.publicJwk.x !== derived.x || key.publicJwk.y !== derived.y) return key;
    relabelled.push(key.kid);
    const kid = derived.thumbprint;
    const plain = Buffer.from(JSON.stringify(privateKey.export({ format: 'jwk' })), 'utf8');
    return { ...key, kid, publicJwk: { ...key.publicJwk, kid }, privateKey: kek.encrypt(plain, kid) };
  };
  const out: KeyringRecord = { ...ring, current: await relabel(ring.current), next: await relabel(ring.next) };
  if (ring.previous !== undefined) out.previous = await relabel(ring.previous);
  return { ring: out, changed: relabelled.length > 0, relabelled };
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
