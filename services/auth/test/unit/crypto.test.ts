import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKekRing, kekFingerprint } from '../../src/crypto/kek.js';
import {
  digestEquals,
  hashSecret,
  normalizeEnrollmentCode,
  randomEnrollmentCode,
  sha256,
  verifySecret,
} from '../../src/crypto/secrets.js';

describe('client secret hashing', () => {
  it('verifies the right secret only, with the parameters stored in the hash', async () => {
    const h = await hashSecret('s3cret', 12);
    expect(h).toMatchObject({ alg: 'scrypt', logN: 12, r: 8, p: 1 });
    expect(JSON.stringify(h)).not.toContain('s3cret');
    expect(await verifySecret('s3cret', h)).toBe(true);
    expect(await verifySecret('s3cres', h)).toBe(false);
    const again = await hashSecret('s3cret', 12);
    expect(again.salt).not.toBe(h.salt);
    expect(again.hash).not.toBe(h.hash);
  });

  it('works at the default cost 2^15 (needs more than Node’s default scrypt maxmem)', async () => {
    const h = await hashSecret('x', 15);
    expect(await verifySecret('x', h)).toBe(true);
  });
});

describe('enrollment codes', () => {
  it('carry 160 bits in 8 groups of 4 Crockford base32 characters', () => {
    const codes = new Set(Array.from({ length: 200 }, () => randomEnrollmentCode()));
    expect(codes.size).toBe(200);
    for (const c of codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/);
  });

  it('normalise typing variations to the same hash', () => {
    const code = 'AB10-XY0Z';
    const variants = ['ab10-xy0z', 'AB1O XYOZ', 'abl0xy0z', ' AB10-XY0Z '];
    for (const v of variants) expect(sha256(normalizeEnrollmentCode(v))).toBe(sha256(normalizeEnrollmentCode(code)));
    expect(digestEquals(sha256('a'), sha256('a'))).toBe(true);
    expect(digestEquals(sha256('a'), sha256('b'))).toBe(false);
  });
});

describe('KEK envelope', () => {
  const current = randomBytes(32);
  const previous = randomBytes(32);

  it('round-trips, binds the ciphertext to its AAD, and names the KEK by fingerprint', () => {
    const ring = createKekRing(current);
    const blob = ring.encrypt(Buffer.from('private'), 'kid-1');
    expect(blob.kek).toBe(kekFingerprint(current));
    expect(blob.ct).not.toContain(Buffer.from('private').toString('base64url'));
    expect(ring.decrypt(blob, 'kid-1').toString()).toBe('private');
    expect(() => ring.decrypt(blob, 'kid-2')).toThrow(/cannot be decrypted/);
    expect(() => ring.decrypt({ ...blob, tag: Buffer.alloc(16).toString('base64url') }, 'kid-1')).toThrow();
    expect(ring.encrypt(Buffer.from('private'), 'kid-1').iv).not.toBe(blob.iv);
  });

  it('decrypts with the previous KEK during a KEK rotation and reports what needs rekeying', () => {
    const old = createKekRing(previous).encrypt(Buffer.from('k'), 'kid');
    const rolling = createKekRing(current, previous);
    expect(rolling.decrypt(old, 'kid').toString()).toBe('k');
    expect(rolling.isCurrent(old)).toBe(false);
    expect(rolling.isCurrent(rolling.encrypt(Buffer.from('k'), 'kid'))).toBe(true);
    expect(() => createKekRing(current).decrypt(old, 'kid')).toThrow(expect.objectContaining({ code: 'ORDERWIRE_ERR_AUTH_KEY_DECRYPT' }));
  });
});
