/**
 * Claims of the tokens the auth service issues, for the verifier's tests; keys, the JWKS endpoint
 * and signing come from the test harness (`startJwks`, `createJwksKey`, `signJwt`).
 */
import type { JWTPayload } from 'jose';

export const ISSUER = 'orderwire-auth';

export const nowSec = (): number => Math.floor(Date.now() / 1000);

export function displayPayload(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    typ: 'display',
    iss: ISSUER,
    aud: 'edge',
    sub: 'display-1',
    tid: 'tenant-1',
    sid: 'store-1',
    stn: ['grill', 'fryer'],
    fam: 'fam-1',
    jti: 'jti-1',
    iat: nowSec(),
    exp: nowSec() + 300,
    ...overrides,
  };
}

export function clientPayload(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    typ: 'client',
    iss: ISSUER,
    aud: 'orderwire-api',
    sub: 'pos-client',
    tid: 'tenant-1',
    scope: 'orders:write orders:read',
    jti: 'jti-2',
    iat: nowSec(),
    exp: nowSec() + 300,
    ...overrides,
  };
}

export const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');
