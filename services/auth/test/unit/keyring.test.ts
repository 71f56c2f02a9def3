import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKekRing } from '../../src/crypto/kek.js';
import {
  createKeyring,
  decryptSigningKey,
  isRotationDue,
  publicJwks,
  rekeyKeyring,
  rotateKeyring,
  rotationSafety,
  verifyKeyring,
  type KeyringRecord,
} from '../../src/keys/keyring.js';

const kek = createKekRing(randomBytes(32));
const HOUR = 3_600_000;

/** The JWKS of a keyring that passes the integrity check. */
async function jwksOf(ring: KeyringRecord): Promise<{ keys: { kid: string }[] }> {
  const v = await verifyKeyring(ring, kek);
  if (!v.ok) throw new Error(`keyring refused: ${JSON.stringify(v.failures)}`);
  return publicJwks(v.keys);
}

describe('keyring', () => {
  it('rotates next → current → previous → dropped', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const r1 = await createKeyring(kek, t0);
    expect(r1.previous).toBeUndefined();
    expect((await jwksOf(r1)).keys.map((k) => k.kid)).toEqual([r1.current.kid, r1.next.kid]);

    const t1 = new Date(t0.getTime() + 24 * HOUR);
    expect(isRotationDue(r1, 24 * HOUR, new Date(t1.getTime() - 1))).toBe(false);
    expect(isRotationDue(r1, 24 * HOUR, t1)).toBe(true);
    const r2 = await rotateKeyring(r1, kek, t1);
    expect(r2.generation).toBe(2);
    expect(r2.current.kid).toBe(r1.next.kid);
    expect(r2.previous).toMatchObject({ kid: r1.current.kid, retiredAt: t1.toISOString() });
    expect((await jwksOf(r2)).keys.map((k) => k.kid)).toEqual([r1.next.kid, r2.next.kid, r1.current.kid]);

    const r3 = await rotateKeyring(r2, kek, new Date(t1.getTime() + 24 * HOUR));
    expect((await jwksOf(r3)).keys.map((k) => k.kid)).not.toContain(r1.current.kid);
  });

  it('knows when dropping previous is safe (every token it signed has expired)', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const r2 = await rotateKeyring(await createKeyring(kek, t0), kek, t0);
    expect(rotationSafety(r2, 15 * 60_000, new Date(t0.getTime() + 60_000))).toMatchObject({ safe: false, kid: r2.previous!.kid });
    expect(rotationSafety(r2, 15 * 60_000, new Date(t0.getTime() + 15 * 60_000)).safe).toBe(true);
  });

  it('decrypts the current key into a usable private key, and rekeys only what needs it', async () => {
    const ring = await createKeyring(kek, new Date());
    expect(decryptSigningKey(ring.current, kek).asymmetricKeyType).toBe('ec');
    expect(rekeyKeyring(ring, kek).changed).toBe(false);
    const next = createKekRing(randomBytes(32), kek.current.key);
    const { ring: rekeyed, changed } = rekeyKeyring(ring, next);
    expect(changed).toBe(true);
    expect(rekeyed.current.privateKey.kek).toBe(next.current.id);
    expect(decryptSigningKey(rekeyed.current, createKekRing(next.current.key)).asymmetricKeyType).toBe('ec');
  });
});
