/**
 * Access tokens: ES256 JWTs with `kid`, claims exactly as `DisplayTokenClaims` /
 * `ClientTokenClaims` in @orderwire/contracts. The auth service also verifies client tokens
 * itself (management API) against its own keyring — same keys, no HTTP round trip.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import {
  API_AUDIENCE,
  DISPLAY_AUDIENCE,
  type ClientTokenClaims,
  type DisplayTokenClaims,
} from '@orderwire/contracts';
import { createVerifiedCache, isTokenError, type VerifiedCache } from '@orderwire/token-verifier';
import { AUTH_ERRORS } from '../errors.js';
import type { KeyManager } from '../keys/key-manager.js';
import { SIGNING_ALG } from '../keys/keyring.js';

/** 5 s of clock skew tolerated when this service verifies a token. */
export const CLOCK_SKEW_SECONDS = 5;

/**
 * A client token verified here is taken as verified again for 60 s (its `exp` still checked):
 * an operator registering a fleet presents one token per request, and an ES256 verify each time
 * was most of auth's signature work per display. No window for a withdrawn key: the remembered
 * tokens are forgotten whenever the keyring (its JWKS ETag) changes.
 */
export const VERIFIED_CLIENT_TOKEN_TTL_MS = 60_000;
/** 1,000 verified client tokens remembered at most; the oldest goes first. */
export const VERIFIED_CLIENT_TOKEN_CACHE_SIZE = 1_000;

export interface IssuedToken<C> {
  token: string;
  /** Seconds until `exp`. */
  expiresIn: number;
  claims: C;
}

export interface DisplayTokenInput {
  tenant: string;
  displayId: string;
  storeId: string;
  stations: readonly string[];
  familyId: string;
}

export interface ClientTokenInput {
  tenant: string;
  clientId: string;
  scopes: readonly string[];
}

export interface TokenIssuer {
  issueDisplayToken(input: DisplayTokenInput): Promise<IssuedToken<DisplayTokenClaims>>;
  issueClientToken(input: ClientTokenInput): Promise<IssuedToken<ClientTokenClaims>>;
  /** @throws ORDERWIRE_ERR_AUTH_INVALID_TOKEN */
  verifyClientToken(token: string): Promise<ClientTokenClaims>;
}

export interface TokenIssuerOptions {
  keys: KeyManager;
  issuer: string;
  displayTtlMs: number;
  clientTtlMs: number;
}

export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const { keys, issuer } = options;
  const displayTtl = Math.floor(options.displayTtlMs / 1000);
  const clientTtl = Math.floor(options.clientTtlMs / 1000);
  // Rebuilt only when the keyring changes (the JWKS ETag moves with it), and the verified
  // client tokens with them.
  let verifyKeys: { etag: string; get: ReturnType<typeof createLocalJWKSet>; verified: VerifiedCache | undefined } | undefined;

  function current(): NonNullable<typeof verifyKeys> {
    const doc = keys.jwks();
    if (verifyKeys?.etag !== doc.etag) {
      verifyKeys = {
        etag: doc.etag,
        get: createLocalJWKSet({ keys: doc.keys }),
        verified: createVerifiedCache({
          maxTtlMs: VERIFIED_CLIENT_TOKEN_TTL_MS,
          maxEntries: VERIFIED_CLIENT_TOKEN_CACHE_SIZE,
          clockToleranceSec: CLOCK_SKEW_SECONDS,
        }),
      };
    }
    return verifyKeys;
  }

  async function sign(claims: object): Promise<string> {
    const { kid, key } = keys.signer();
    return new SignJWT({ ...claims }).setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' }).sign(key);
  }

  function times(ttl: number): { iat: number; nbf: number; exp: number } {
    const iat = Math.floor(Date.now() / 1000);
    return { iat, nbf: iat, exp: iat + ttl };
  }

  return {
    async issueDisplayToken(input) {
      const claims: DisplayTokenClaims = {
        typ: 'display',
        iss: issuer,
        aud: DISPLAY_AUDIENCE,
        sub: input.displayId,
        tid: input.tenant,
        sid: input.storeId,
        stn: [...input.stations],
        fam: input.familyId,
        jti: randomUUID(),
        ...times(displayTtl),
      };
      return { token: await sign(claims), expiresIn: displayTtl, claims };
    },
    async issueClientToken(input) {
      const claims: ClientTokenClaims = {
        typ: 'client',
        iss: issuer,
        aud: API_AUDIENCE,
        sub: input.clientId,
        tid: input.tenant,
        scope: input.scopes.join(' '),
        jti: randomUUID(),
        ...times(clientTtl),
      };
      return { token: await sign(claims), expiresIn: clientTtl, claims };
    },
    async verifyClientToken(token) {
      const { get: jwks, verified } = current();
      try {
        const hit = verified?.get(token, Date.now());
        if (hit !== undefined) return hit as unknown as ClientTokenClaims;
      } catch (err) {
        // The remembered token failed its time checks now: what jwtVerify says of it.
        const reason = isTokenError(err) && err.code === 'ORDERWIRE_ERR_TOKEN_EXPIRED' ? 'expired' : 'claim nbf invalid';
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_INVALID_TOKEN', { reason }, { cause: err });
      }
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer,
          audience: API_AUDIENCE,
          algorithms: [SIGNING_ALG],
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        });
        const claims = payload as unknown as ClientTokenClaims;
        if (claims.typ !== 'client' || typeof claims.tid !== 'string' || typeof claims.scope !== 'string') {
          throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_INVALID_TOKEN', { reason: 'not a client token' });
        }
        verified?.set(token, payload, Date.now());
        return claims;
      } catch (err) {
        if (AUTH_ERRORS.is(err)) throw err;
        const reason =
          err instanceof joseErrors.JWTExpired
            ? 'expired'
            : err instanceof joseErrors.JWKSNoMatchingKey
              ? 'unknown signing key'
              : err instanceof joseErrors.JWTClaimValidationFailed
                ? `claim ${err.claim} invalid`
                : 'invalid signature or format';
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_INVALID_TOKEN', { reason }, { cause: err });
      }
    },
  };
}
