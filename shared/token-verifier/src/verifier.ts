import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwksCache,
  jwtVerify,
  type CryptoKey,
  type ExportedJWKSCache,
  type FlattenedJWSInput,
  type JWKSCacheInput,
  type JWSHeaderParameters,
  type JWTPayload,
} from 'jose';
import type { AccessTokenClaims, ClientTokenClaims, DisplayTokenClaims, Scope } from '@orderwire/contracts';
import { TokenError } from './errors.js';
import { accessClaims, clientClaims, displayClaims, requireScopes } from './claims.js';
import { createVerifiedCache } from './verified-cache.js';

/** Asymmetric algorithms only: an HMAC "allowed" here would let a public key become a signing secret. */
export const ASYMMETRIC_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
] as const;
export type TokenAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** What the auth service signs with */
export const DEFAULT_ALGORITHMS: readonly TokenAlgorithm[] = ['ES256', 'EdDSA'];
/** Seconds of clock skew tolerated on `exp` / `nbf` */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 5;
/** Minimum ms between two JWKS fetches caused by unknown `kid`s (bounds refetch floods) */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** How long (ms) a fetched JWKS is used before it is fetched again */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** How long (ms) a JWKS fetch may take */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/**
 * How long past `cacheMaxAgeMs` the last good JWKS keeps verifying tokens while the JWKS endpoint
 * is down, so an auth outage does not stop ingest/edge from accepting live tokens.
 */
export const DEFAULT_JWKS_STALE_IF_ERROR_MS = 60 * 60_000;
/**
 * Longest time (ms) a verified token is accepted again without checking its
 * signature; never past its `exp`. Also how long a key withdrawn from the JWKS keeps accepting
 * tokens it signed that were already verified (see verified-cache.ts). 0 turns the cache off.
 */
export const DEFAULT_VERIFIED_TOKEN_TTL_MS = 60_000;
/** Verified tokens remembered; the oldest is dropped first. 0 turns the cache off. */
export const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE = 10_000;
/** Longest token accepted, in characters; longer input is refused before any parsing */
export const MAX_TOKEN_LENGTH = 8192;

/** 256 — characters of a token's protected header; ours is ~80 (`alg`, `kid`, `typ`). */
export const MAX_TOKEN_HEADER_LENGTH = 256;
/** 128 — characters of a `kid` (ours are RFC 7638 thumbprints, 43). */
export const MAX_KID_LENGTH = 128;

/**
 * Compact JWS: three base64url segments, checked before any decoding. The signature may be empty
 * here so that an unsecured token (`alg: none`) is refused for what it is: ALG_NOT_ALLOWED.
 */
const COMPACT_JWS_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * What a verifier needs to refuse a revoked token. Checked on every call, cached tokens included,
 * so a revocation applies within the time it takes to reach this process, not at `exp`.
 */
export interface RevocationCheck {
  /** True when the token must be refused: its client (`sub` of tenant `tid`) was revoked at or after `iat`. */
  isRevoked(claims: { sub: string; tid: string; iat: number; jti: string }): boolean;
}

/** Every access token must carry these (plus `iss` and `aud`, which jose checks against the options). */
const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'jti', 'tid', 'typ'];

/** Structural subset of a pino logger. */
export interface VerifierLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface TokenVerifierOptions {
  /** JWKS endpoint of the auth service (`AUTH_JWKS_URL`). */
  jwksUrl: string | URL;
  /** Expected `iss` (`AUTH_ISSUER`). */
  issuer: string;
  /** Expected `aud`: `DISPLAY_AUDIENCE` on edge nodes, `API_AUDIENCE` on ingest/dlq/auth. */
  audience: string;
  algorithms?: readonly TokenAlgorithm[];
  clockToleranceSec?: number;
  cooldownMs?: number;
  cacheMaxAgeMs?: number;
  timeoutMs?: number;
  staleIfErrorMs?: number;
  /** @default {@link DEFAULT_VERIFIED_TOKEN_TTL_MS}; 0 verifies every call in full */
  verifiedTokenTtlMs?: number;
  /** @default {@link DEFAULT_VERIFIED_TOKEN_CACHE_SIZE}; 0 verifies every call in full */
  verifiedTokenCacheSize?: number;
  logger?: VerifierLogger;
  /** Revoked clients / tokens (see `createRevocationWatcher` in @orderwire/platform). */
  revocations?: RevocationCheck;
}

export interface TokenVerifier {
  /** A display's access token (edge handshake and `auth:refresh`). */
  verifyDisplayToken(token: unknown): Promise<DisplayTokenClaims>;
  /** A client-credentials token; throws INSUFFICIENT_SCOPE (403) unless it grants every `requiredScopes`. */
  verifyClientToken(token: unknown, requiredScopes?: readonly Scope[]): Promise<ClientTokenClaims>;
  /** Either kind, discriminated by `typ`. */
  verify(token: unknown): Promise<AccessTokenClaims>;
  /** Fetches the JWKS now (startup / readiness); throws JWKS_UNAVAILABLE when it cannot. */
  prefetch(): Promise<void>;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

function configError(detail: string): TokenError {
  return new TokenError('ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG', { detail });
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw configError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

function isKeyMatchError(err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys;
}

/** Maps jose's error classes onto the token error catalogue; anything unexpected is rethrown as is. */
function toTokenError(err: unknown): unknown {
  if (err instanceof TokenError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError('ORDERWIRE_ERR_TOKEN_EXPIRED', { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return new TokenError('ORDERWIRE_ERR_TOKEN_NOT_YET_VALID', { cause: err });
      case 'aud':
        return new TokenError('ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE', { cause: err });
      case 'iss':
        return new TokenError('ORDERWIRE_ERR_TOKEN_WRONG_ISSUER', { cause: err });
      default:
        return new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: `claim ${err.claim} (${err.reason})`, cause: err });
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED', { cause: err });
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError('ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE', { cause: err });
  }
  if (isKeyMatchError(err)) return new TokenError('ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY', { cause: err });
  if (err instanceof errors.JWKSTimeout) return new TokenError('ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE', { cause: err });
  // JWSInvalid / JWTInvalid: not a compact JWS, bad base64url or JSON; JOSENotSupported: unknown `crit`.
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
    return new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { cause: err });
  }
  return err;
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const {
    issuer,
    audience,
    algorithms = DEFAULT_ALGORITHMS,
    clockToleranceSec = DEFAULT_CLOCK_TOLERANCE_SEC,
    cooldownMs = DEFAULT_JWKS_COOLDOWN_MS,
    cacheMaxAgeMs = DEFAULT_JWKS_CACHE_MAX_AGE_MS,
    timeoutMs = DEFAULT_JWKS_TIMEOUT_MS,
    staleIfErrorMs = DEFAULT_JWKS_STALE_IF_ERROR_MS,
    verifiedTokenTtlMs = DEFAULT_VERIFIED_TOKEN_TTL_MS,
    verifiedTokenCacheSize = DEFAULT_VERIFIED_TOKEN_CACHE_SIZE,
    logger,
    revocations,
  } = options;

  let url: URL;
  try {
    url = new URL(options.jwksUrl);
  } catch (cause) {
    throw new TokenError('ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG', { detail: 'jwksUrl is not a URL', cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError('jwksUrl must be http(s)');
  if (typeof issuer !== 'string' || issuer.length === 0) throw configError('issuer is required');
  if (typeof audience !== 'string' || audience.length === 0) throw configError('audience is required');
  if (algorithms.length === 0) throw configError('algorithms must not be empty');
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) throw configError(`algorithm ${alg} is not an asymmetric JWS algorithm`);
  }
  if (!Number.isFinite(clockToleranceSec) || clockToleranceSec < 0) throw configError('clockToleranceSec must be ≥ 0');
  nonNegativeInt('cooldownMs', cooldownMs);
  nonNegativeInt('cacheMaxAgeMs', cacheMaxAgeMs);
  nonNegativeInt('timeoutMs', timeoutMs);
  nonNegativeInt('staleIfErrorMs', staleIfErrorMs);
  nonNegativeInt('verifiedTokenTtlMs', verifiedTokenTtlMs);
  nonNegativeInt('verifiedTokenCacheSize', verifiedTokenCacheSize);
  const allowedAlgs = new Set<string>(algorithms);
  const verifiedTokens = createVerifiedCache({ maxTtlMs: verifiedTokenTtlMs, maxEntries: verifiedTokenCacheSize, clockToleranceSec });

  // jose writes the last good JWKS and its fetch time here; it backs the stale-if-error fallback.
  const cache: JWKSCacheInput = {};
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: cacheMaxAgeMs,
    [jwksCache]: cache,
  });
  const jwksUrl = url.href;

  /** While > now, the JWKS endpoint failed recently and the stale keys answer without a fetch. */
  let retryAt = 0;
  let outage = false;
  let stale: { uat: number; resolve: KeyResolver } | undefined;

  function staleKeys(now: number): KeyResolver | undefined {
    const good = cache as Partial<ExportedJWKSCache>;
    if (good.uat === undefined || good.jwks === undefined) return undefined;
    if (now - good.uat > cacheMaxAgeMs + staleIfErrorMs) return undefined;
    if (stale?.uat !== good.uat) stale = { uat: good.uat, resolve: createLocalJWKSet(good.jwks) };
    return stale.resolve;
  }

  async function fromStale(resolve: KeyResolver, header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    try {
      return await resolve(header, token);
    } catch (err) {
      // The key may be one published after our last good fetch: we cannot tell, so the caller retries.
      throw new TokenError('ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE', { detail: 'key not in the cached JWKS', cause: err });
    }
  }

  function noteFailure(err: unknown, now: number, servingStale: boolean): void {
    retryAt = now + cooldownMs;
    if (outage) return;
    outage = true; // one warning per outage, not one per request
    logger?.warn({ err, jwksUrl, servingStale }, 'jwks fetch failed');
  }

  const getKey: KeyResolver = async (header, token) => {
    if (typeof header.kid !== 'string' || header.kid.length === 0) {
      throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'kid header is required' });
    }
    const now = Date.now();
    if (now < retryAt) {
      const resolve = staleKeys(now);
      if (resolve !== undefined) return fromStale(resolve, header, token);
    }
    try {
      const key = await remote(header, token);
      if (outage) {
        outage = false;
        retryAt = 0;
        logger?.info({ jwksUrl }, 'jwks reachable again');
      }
      return key;
    } catch (err) {
      // No matching key in a JWKS we hold (refetched at most once per cooldown by jose).
      if (isKeyMatchError(err)) throw new TokenError('ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY', { cause: err });
      // Anything else came from fetching or reading the JWKS: network, timeout, non-200, bad JSON or keys.
      const resolve = staleKeys(now);
      noteFailure(err, now, resolve !== undefined);
      if (resolve !== undefined) return fromStale(resolve, header, token);
      throw new TokenError('ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE', { cause: err });
    }
  };

  const verifyOptions = {
    issuer,
    audience,
    algorithms: [...algorithms],
    clockTolerance: clockToleranceSec,
    requiredClaims: REQUIRED_CLAIMS,
  };

  async function verifyPayload(token: unknown): Promise<JWTPayload> {
    if (typeof token !== 'string' || token.length === 0) throw new TokenError('ORDERWIRE_ERR_TOKEN_MISSING');
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: `longer than ${MAX_TOKEN_LENGTH} characters` });
    }
    precheck(token);
    try {
      const { payload } = await jwtVerify(token, getKey, verifyOptions);
      return payload;
    } catch (err) {
      throw toTokenError(err);
    }
  }

  /**
   * Cheap refusals before jose and before any key lookup: shape, header size, `alg` in the allowed
   * list, a `kid` of sane length. A forged token then costs a regex and one small JSON parse; only
   * a token that could be ours reaches the key set (unknown kids: one JWKS refetch per
   * `cooldownMs` at most, by jose) and the signature check.
   */
  function precheck(token: string): void {
    if (!COMPACT_JWS_RE.test(token)) throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'not a compact JWS' });
    const headerPart = token.slice(0, token.indexOf('.'));
    if (headerPart.length > MAX_TOKEN_HEADER_LENGTH) throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'header too long' });
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8'));
    } catch (cause) {
      throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'header is not JSON', cause });
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'header is not a JSON object' });
    }
    const { alg, kid } = header as { alg?: unknown; kid?: unknown };
    if (typeof alg !== 'string' || !allowedAlgs.has(alg)) throw new TokenError('ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED');
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
      throw new TokenError('ORDERWIRE_ERR_TOKEN_MALFORMED', { detail: 'kid header is required' });
    }
  }

  /**
   * Refuses a revoked client token (display tokens are revoked through their refresh family and
   * the edge's display signal instead). Claims are already shape-checked.
   */
  function checkRevoked(payload: JWTPayload): void {
    if (revocations === undefined) return;
    const { sub, tid, iat, jti } = payload as { sub?: unknown; tid?: unknown; iat?: unknown; jti?: unknown };
    if (typeof sub !== 'string' || typeof tid !== 'string' || typeof iat !== 'number' || typeof jti !== 'string') return;
    if (revocations.isRevoked({ sub, tid, iat, jti })) throw new TokenError('ORDERWIRE_ERR_TOKEN_REVOKED');
  }

  /**
   * A cached token skips the signature check (exp/nbf are checked again); anything else is
   * verified in full and cached only once `shape` accepted its claims. Scopes are the caller's
   * check, on every call.
   */
  async function verified<T>(token: unknown, shape: (payload: JWTPayload) => T, revocable: boolean): Promise<T> {
    if (verifiedTokens !== undefined && typeof token === 'string') {
      const hit = verifiedTokens.get(token, Date.now());
      if (hit !== undefined) {
        const claims = shape(hit);
        if (revocable) checkRevoked(hit);
        return claims;
      }
    }
    const payload = await verifyPayload(token);
    const claims = shape(payload);
    if (revocable) checkRevoked(payload);
    verifiedTokens?.set(token as string, payload, Date.now());
    return claims;
  }

  return {
    async verifyDisplayToken(token) {
      return verified(token, displayClaims, false);
    },
    async verifyClientToken(token, requiredScopes = []) {
      const claims = await verified(token, clientClaims, true);
      requireScopes(claims, requiredScopes);
      return claims;
    },
    async verify(token) {
      const claims = await verified(token, accessClaims, false);
      if (claims.typ === 'client') checkRevoked(claims as unknown as JWTPayload);
      return claims;
    },
    async prefetch() {
      try {
        await remote.reload();
        outage = false;
        retryAt = 0;
      } catch (err) {
        noteFailure(err, Date.now(), staleKeys(Date.now()) !== undefined);
        throw new TokenError('ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE', { cause: err });
      }
    },
  };
}
