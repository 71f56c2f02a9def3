/**
 * Claim shapes are checked after the signature: a valid signature proves who wrote the token, not
 * that every field is safe to use as a subject token or a consumer name.
 */
import type { JWTPayload } from 'jose';
import {
  API_AUDIENCE,
  DISPLAY_AUDIENCE,
  isScope,
  isValidId,
  type AccessTokenClaims,
  type ClientTokenClaims,
  type DisplayTokenClaims,
  type Scope,
} from '@orderwire/contracts';
import { TokenError } from './errors.js';

/** Characters of `jti` and `fam` */
export const OPAQUE_CLAIM_MAX = 128;

export type TokenType = AccessTokenClaims['typ'];

function malformed(detail: string): TokenError {
  return new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail });
}

function id(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (!isValidId(value)) throw malformed(`claim ${claim} is not a valid id`);
  return value;
}

function opaque(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (typeof value !== 'string' || value.length === 0 || value.length > OPAQUE_CLAIM_MAX) {
    throw malformed(`claim ${claim} must be a string of 1–${OPAQUE_CLAIM_MAX} characters`);
  }
  return value;
}

function numericDate(payload: JWTPayload, claim: 'iat' | 'exp' | 'nbf'): number {
  const value = payload[claim];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw malformed(`claim ${claim} must be a NumericDate`);
  return value;
}

function requireAudience(payload: JWTPayload, audience: string): void {
  const aud = payload.aud;
  const ok = typeof aud === 'string' ? aud === audience : Array.isArray(aud) && aud.includes(audience);
  if (!ok) throw new TokenError('ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE', { detail: `expected audience ${audience}` });
}

function requireType(payload: JWTPayload, expected: readonly TokenType[]): TokenType {
  const typ = payload.typ;
  if (typeof typ !== 'string' || !(expected as readonly string[]).includes(typ)) {
    throw new TokenError('ORDERWIRE_ERR_TOKEN_WRONG_TYPE', { detail: `expected a ${expected.join(' or ')} token` });
  }
  return typ as TokenType;
}

function timing(payload: JWTPayload): { iat: number; exp: number; nbf?: number } {
  const out: { iat: number; exp: number; nbf?: number } = { iat: numericDate(payload, 'iat'), exp: numericDate(payload, 'exp') };
  if (payload.nbf !== undefined) out.nbf = numericDate(payload, 'nbf');
  return out;
}

/**
 * Splits an RFC 6749 `scope` string. Scopes this version does not know are dropped rather than
 * refused, so auth can introduce a scope before every verifier knows it.
 */
export function parseScopes(scope: unknown): Scope[] {
  if (typeof scope !== 'string') throw malformed('claim scope must be a space-separated string');
  return [...new Set(scope.split(' ').filter(isScope))];
}

/**
 * 64 — distinct `scope` strings whose parse is remembered. A client's token carries the same string
 * on every request and there are a handful of combinations, so this is never reached in practice;
 * past it the memo starts again (bounded memory whatever arrives).
 */
export const GRANTED_SCOPES_MEMO_MAX = 64;
const grantedMemo = new Map<string, readonly Scope[]>();

/**
 * {@link parseScopes} of a client token's `scope`, remembered by its text: each request of a
 * token the verifier already verified parsed it three times (the shape check, the scope check,
 * the principal) — 1.5 % of ingest's CPU per order (issue 14). The array is frozen: it is shared.
 */
export function grantedScopes(scope: unknown): readonly Scope[] {
  if (typeof scope !== 'string') throw malformed('claim scope must be a space-separated string');
  let granted = grantedMemo.get(scope);
  if (granted === undefined) {
    granted = Object.freeze(parseScopes(scope));
    if (grantedMemo.size >= GRANTED_SCOPES_MEMO_MAX) grantedMemo.clear();
    grantedMemo.set(scope, granted);
  }
  return granted;
}

export function displayClaims(payload: JWTPayload): DisplayTokenClaims {
  requireType(payload, ['display']);
  requireAudience(payload, DISPLAY_AUDIENCE);
  const stn: unknown = payload.stn;
  if (!Array.isArray(stn) || !stn.every(isValidId)) throw malformed('claim stn must be an array of valid ids');
  return {
    typ: 'display',
    iss: opaque(payload, 'iss'),
    aud: DISPLAY_AUDIENCE,
    sub: id(payload, 'sub'),
    tid: id(payload, 'tid'),
    sid: id(payload, 'sid'),
    stn: [...stn],
    fam: opaque(payload, 'fam'),
    jti: opaque(payload, 'jti'),
    ...timing(payload),
  };
}

export function clientClaims(payload: JWTPayload): ClientTokenClaims {
  requireType(payload, ['client']);
  requireAudience(payload, API_AUDIENCE);
  const scope = payload.scope;
  grantedScopes(scope);
  return {
    typ: 'client',
    iss: opaque(payload, 'iss'),
    aud: API_AUDIENCE,
    sub: id(payload, 'sub'),
    tid: id(payload, 'tid'),
    scope: scope as string,
    jti: opaque(payload, 'jti'),
    ...timing(payload),
  };
}

export function accessClaims(payload: JWTPayload): AccessTokenClaims {
  return requireType(payload, ['display', 'client']) === 'display' ? displayClaims(payload) : clientClaims(payload);
}

/** Throws INSUFFICIENT_SCOPE (403) unless every required scope is granted. */
export function requireScopes(claims: ClientTokenClaims, required: readonly Scope[]): readonly Scope[] {
  const granted = grantedScopes(claims.scope);
  const missing = required.filter((s) => !granted.includes(s));
  if (missing.length > 0) {
    throw new TokenError('ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE', {
      detail: `requires ${missing.join(' ')}`,
      details: { required: [...required], missing },
    });
  }
  return granted;
}
