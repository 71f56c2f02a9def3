/**
 * Random secrets and how they are stored. Client secrets are low-volume, long-lived and
 * possibly chosen from a small space in the future, so they get a slow, salted scrypt hash.
 * Refresh tokens and enrollment codes are ≥ 128 random bits, so a plain SHA-256 is enough to
 * make a leaked KV bucket useless (nobody can brute-force 2^128) and keeps lookups fast.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** 32 bytes (256 bits) for client secrets and refresh tokens. */
export const SECRET_BYTES = 32;
/** Scrypt block size. */
export const SCRYPT_R = 8;
/** Scrypt parallelism. */
export const SCRYPT_P = 1;
/** 32 bytes of derived key. */
export const SCRYPT_KEY_BYTES = 32;
/** 16 bytes of salt. */
export const SCRYPT_SALT_BYTES = 16;

export function randomSecret(bytes = SECRET_BYTES): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64url');
}

/** Constant-time comparison of two base64url digests. */
export function digestEquals(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'base64url');
  const bb = Buffer.from(b, 'base64url');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** A stored scrypt hash with its parameters, so the cost can be raised without breaking old hashes. */
export interface SecretHash {
  alg: 'scrypt';
  logN: number;
  r: number;
  p: number;
  salt: string;
  hash: string;
}

function scryptAsync(secret: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function scryptOptions(logN: number, r: number, p: number): ScryptOptions {
  const N = 2 ** logN;
  // Node's default maxmem (32 MiB) is exactly 128*N*r for N=2^15, r=8, which it rejects.
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
}

export async function hashSecret(secret: string, logN: number): Promise<SecretHash> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await scryptAsync(secret, salt, SCRYPT_KEY_BYTES, scryptOptions(logN, SCRYPT_R, SCRYPT_P));
  return { alg: 'scrypt', logN, r: SCRYPT_R, p: SCRYPT_P, salt: salt.toString('base64url'), hash: key.toString('base64url') };
}

export async function verifySecret(secret: string, stored: SecretHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64url');
  const key = await scryptAsync(
    secret,
    Buffer.from(stored.salt, 'base64url'),
    expected.length,
    scryptOptions(stored.logN, stored.r, stored.p),
  );
  return timingSafeEqual(key, expected);
}

/**
 * A hash of a random secret nobody knows. Verifying an unknown client's secret against it
 * costs the same as a wrong secret for a real client, so response time does not reveal
 * which client ids exist.
 */
export async function createDummyHash(logN: number): Promise<SecretHash> {
  return hashSecret(randomSecret(), logN);
}

/** Crockford base32: no I, L, O, U, so codes survive being read aloud or typed. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 20 bytes = 160 bits for enrollment codes (≥ 128 required). */
export const ENROLLMENT_CODE_BYTES = 20;

/** A human-typeable one-time code: 160 random bits as Crockford base32, in groups of 4. */
export function randomEnrollmentCode(bytes = ENROLLMENT_CODE_BYTES): string {
  const buf = randomBytes(bytes);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += CROCKFORD[(value << (5 - bits)) & 31];
  return out.match(/.{1,4}/g)!.join('-');
}

/** Canonical form for hashing: upper case, separators dropped, and the usual misreadings mapped. */
export function normalizeEnrollmentCode(code: string): string {
  return code
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
}
