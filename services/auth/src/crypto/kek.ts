/**
 * Envelope encryption of signing keys at rest with the key-encryption key (KEK) from the
 * environment. AES-256-GCM, a fresh 96-bit IV per encryption, and the record's identity (the
 * signing key's kid) as additional authenticated data, so a ciphertext cannot be swapped onto
 * another record. Each blob names the KEK that sealed it by a fingerprint, which lets an
 * operator rotate the KEK: decrypt with AUTH_KEK or AUTH_KEK_PREVIOUS, re-encrypt with AUTH_KEK.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AUTH_ERRORS } from '../errors.js';

const ALG = 'aes-256-gcm';
const IV_BYTES = 12;

export interface EncryptedBlob {
  alg: 'A256GCM';
  /** Fingerprint of the KEK that sealed this blob (not the KEK itself). */
  kek: string;
  iv: string;
  tag: string;
  ct: string;
}

export interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

export interface KekRing {
  readonly current: Kek;
  readonly previous: Kek | undefined;
  encrypt(plaintext: Buffer, aad: string): EncryptedBlob;
  /** @throws ORDERWIRE_ERR_AUTH_KEY_DECRYPT when neither KEK matches the blob. */
  decrypt(blob: EncryptedBlob, aad: string): Buffer;
  /** True when `blob` was sealed with the current KEK (no rekey needed). */
  isCurrent(blob: EncryptedBlob): boolean;
}

/** First 12 bytes of SHA-256 over a domain-separated KEK: identifies it without revealing it. */
export function kekFingerprint(key: Buffer): string {
  return createHash('sha256').update('orderwire-kek-id\0').update(key).digest().subarray(0, 12).toString('base64url');
}

export function createKekRing(current: Buffer, previous?: Buffer): KekRing {
  const cur: Kek = { id: kekFingerprint(current), key: current };
  const prev: Kek | undefined = previous === undefined ? undefined : { id: kekFingerprint(previous), key: previous };
  const byId = new Map<string, Kek>([[cur.id, cur]]);
  if (prev !== undefined && prev.id !== cur.id) byId.set(prev.id, prev);

  return {
    current: cur,
    previous: prev,
    encrypt(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALG, cur.key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        alg: 'A256GCM',
        kek: cur.id,
        iv: iv.toString('base64url'),
        tag: cipher.getAuthTag().toString('base64url'),
        ct: ct.toString('base64url'),
      };
    },
    decrypt(blob, aad) {
      const kek = byId.get(blob.kek);
      if (kek === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEY_DECRYPT', { kid: aad, kekId: blob.kek });
      try {
        const decipher = createDecipheriv(ALG, kek.key, Buffer.from(blob.iv, 'base64url'));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(Buffer.from(blob.tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(blob.ct, 'base64url')), decipher.final()]);
      } catch (err) {
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_KEY_DECRYPT', { kid: aad, kekId: blob.kek }, { cause: err });
      }
    },
    isCurrent(blob) {
      return blob.kek === cur.id;
    },
  };
}
