/** Reading a JWT payload (no verification: the display only needs the expiry). */
import { describe, expect, it } from 'vitest';
import { decodeJwtPayload } from '../src/jwt.js';

describe('decodeJwtPayload', () => {
  it('reads a base64url payload, including non-ASCII text', () => {
    const payload = { sub: 'd-1', exp: 123, note: 'Küche ✓' };
    const token = `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
    expect(decodeJwtPayload(token)).toEqual(payload);
  });

  it('returns undefined for anything that is not a JWT with an object payload', () => {
    expect(decodeJwtPayload('opaque')).toBeUndefined();
    expect(decodeJwtPayload('a.b')).toBeUndefined();
    expect(decodeJwtPayload('a.!!!.c')).toBeUndefined();
    expect(decodeJwtPayload(`a.${Buffer.from('[1]').toString('base64url')}.c`)).toBeUndefined();
  });
});
