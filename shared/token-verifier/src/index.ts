export {
  createTokenVerifier,
  ASYMMETRIC_ALGORITHMS,
  DEFAULT_ALGORITHMS,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_JWKS_COOLDOWN_MS,
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  DEFAULT_JWKS_STALE_IF_ERROR_MS,
  DEFAULT_VERIFIED_TOKEN_TTL_MS,
  DEFAULT_VERIFIED_TOKEN_CACHE_SIZE,
  MAX_TOKEN_LENGTH,
  MAX_TOKEN_HEADER_LENGTH,
  MAX_KID_LENGTH,
} from './verifier.js';
export type { TokenVerifier, TokenVerifierOptions, TokenAlgorithm, VerifierLogger, RevocationCheck } from './verifier.js';
export { TokenError, TOKEN_ERRORS, TOKEN_ERROR_CODES, isTokenError } from './errors.js';
export type { TokenErrorCode, TokenErrorOptions } from './errors.js';
export { parseScopes, grantedScopes, GRANTED_SCOPES_MEMO_MAX } from './claims.js';
export { createVerifiedCache } from './verified-cache.js';
export type { VerifiedCache, VerifiedCacheOptions } from './verified-cache.js';
export { bearerAuth, requirePrincipal, extractBearerToken, JWKS_RETRY_AFTER_SEC } from './fastify.js';
export type { BearerAuthOptions, BearerAuthHook, ClientPrincipal } from './fastify.js';
