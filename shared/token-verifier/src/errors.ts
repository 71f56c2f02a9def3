import type { DisconnectReason } from '@orderwire/contracts';

/**
 * Every way a token can be refused, with the HTTP status for the APIs and the `reason` the edge
 * puts in `connect_error` / `auth:refresh` answers (the socket contract's vocabulary).
 */
export const TOKEN_ERRORS = {
  ORDERWIRE_ERR_TOKEN_MISSING: { status: 401, reason: 'unauthorized', message: 'no access token was presented' },
  ORDERWIRE_ERR_TOKEN_EXPIRED: { status: 401, reason: 'token_expired', message: 'access token has expired' },
  ORDERWIRE_ERR_TOKEN_NOT_YET_VALID: { status: 401, reason: 'unauthorized', message: 'access token is not valid yet' },
  ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE: { status: 401, reason: 'unauthorized', message: 'access token signature is invalid' },
  ORDERWIRE_ERR_TOKEN_UNKNOWN_KEY: { status: 401, reason: 'unauthorized', message: 'access token is signed with an unknown key' },
  ORDERWIRE_ERR_TOKEN_WRONG_AUDIENCE: { status: 401, reason: 'unauthorized', message: 'access token is not meant for this service' },
  ORDERWIRE_ERR_TOKEN_WRONG_ISSUER: { status: 401, reason: 'unauthorized', message: 'access token was not issued by the Orderwire auth service' },
  ORDERWIRE_ERR_TOKEN_ALG_NOT_ALLOWED: { status: 401, reason: 'unauthorized', message: 'access token signing algorithm is not allowed' },
  ORDERWIRE_ERR_TOKEN_WRONG_TYPE: { status: 401, reason: 'unauthorized', message: 'access token is of the wrong type for this endpoint' },
  ORDERWIRE_ERR_TOKEN_MALFORMED: { status: 401, reason: 'unauthorized', message: 'access token is malformed' },
  ORDERWIRE_ERR_TOKEN_REVOKED: { status: 401, reason: 'token_revoked', message: 'access token has been revoked' },
  ORDERWIRE_ERR_TOKEN_INSUFFICIENT_SCOPE: { status: 403, reason: 'unauthorized', message: 'access token lacks a required scope' },
  ORDERWIRE_ERR_TOKEN_JWKS_UNAVAILABLE: { status: 503, reason: 'internal_error', message: 'signing keys are unavailable; retry later' },
  ORDERWIRE_ERR_TOKEN_VERIFIER_CONFIG: { status: 500, reason: 'internal_error', message: 'token verifier is misconfigured' },
} as const satisfies Record<string, { status: number; reason: DisconnectReason; message: string }>;

export type TokenErrorCode = keyof typeof TOKEN_ERRORS;

export const TOKEN_ERROR_CODES = Object.freeze(Object.keys(TOKEN_ERRORS) as TokenErrorCode[]);

export interface TokenErrorOptions {
  /** Appended to the catalogue message; say what was wrong, never echo the token. */
  detail?: string;
  /** Machine-readable extra data for the caller (e.g. the missing scopes). */
  details?: unknown;
  cause?: unknown;
}

export class TokenError extends Error {
  readonly code: TokenErrorCode;
  readonly status: number;
  /** Same as `status`: the name Fastify's error handling reads. */
  readonly statusCode: number;
  readonly reason: DisconnectReason;
  readonly details?: unknown;

  constructor(code: TokenErrorCode, options: TokenErrorOptions = {}) {
    const spec = TOKEN_ERRORS[code];
    super(
      options.detail === undefined ? spec.message : `${spec.message}: ${options.detail}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'TokenError';
    this.code = code;
    this.status = spec.status;
    this.statusCode = spec.status;
    this.reason = spec.reason;
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isTokenError(err: unknown): err is TokenError {
  return err instanceof TokenError;
}
