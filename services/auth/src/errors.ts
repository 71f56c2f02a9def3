/**
 * Error catalogue of the auth service. OAuth endpoints (`/v1/oauth/token`) answer with RFC 6749
 * bodies instead (see `routes/oauth.ts`); everything else uses `{ error: { code, message } }`.
 * docs/auth.md lists every code (scripts/check-error-docs.mjs keeps the two in step).
 */
import { defineErrors } from '@orderwire/platform';

export const AUTH_ERRORS = defineErrors({
  ORDERWIRE_ERR_AUTH_UNAUTHENTICATED: { status: 401, message: 'a bearer access token is required' },
  ORDERWIRE_ERR_AUTH_INVALID_TOKEN: { status: 401, message: 'access token rejected: {reason}' },
  ORDERWIRE_ERR_AUTH_FORBIDDEN: { status: 403, message: 'scope {scope} is required' },
  ORDERWIRE_ERR_AUTH_DISPLAY_EXISTS: {
    status: 409,
    message: 'display {displayId} is already registered; use ?reissue=true for a fresh enrollment code',
  },
  ORDERWIRE_ERR_AUTH_DISPLAY_NOT_FOUND: { status: 404, message: 'display {displayId} not found' },
  ORDERWIRE_ERR_AUTH_ENROLLMENT_INVALID: { status: 400, message: 'enrollment code is not valid' },
  ORDERWIRE_ERR_AUTH_ENROLLMENT_EXPIRED: { status: 400, message: 'enrollment code has expired; ask an operator to reissue it' },
  ORDERWIRE_ERR_AUTH_ENROLLMENT_USED: { status: 400, message: 'enrollment code has already been used' },
  ORDERWIRE_ERR_AUTH_REFRESH_INVALID: { status: 401, message: 'refresh token is not valid' },
  ORDERWIRE_ERR_AUTH_REFRESH_EXPIRED: { status: 401, message: 'refresh token family has expired; enroll again' },
  ORDERWIRE_ERR_AUTH_REFRESH_REVOKED: { status: 401, message: 'refresh token family has been revoked; enroll again' },
  ORDERWIRE_ERR_AUTH_REFRESH_REUSED: {
    status: 401,
    message: 'refresh token was already used; the token family has been revoked; enroll again',
  },
  ORDERWIRE_ERR_AUTH_RATE_LIMITED: { status: 429, message: 'too many requests; retry in {after}' },
  ORDERWIRE_ERR_AUTH_DISPLAY_QUOTA_EXCEEDED: {
    status: 429,
    message: 'tenant {tenant} has {count} displays registered, its quota is {quota}; decommission one or ask for a higher quota',
  },
  ORDERWIRE_ERR_AUTH_STORE_UNAVAILABLE: { status: 503, message: 'auth state store is unavailable: {reason}' },
  ORDERWIRE_ERR_AUTH_AUDIT_UNAVAILABLE: { status: 503, message: 'audit log is unavailable; request not completed' },
  ORDERWIRE_ERR_AUTH_KEYS_NOT_READY: { status: 503, message: 'signing keys are not loaded yet' },
  ORDERWIRE_ERR_AUTH_CONFLICT: { status: 503, message: 'concurrent update of {what}; retry' },
  ORDERWIRE_ERR_AUTH_KEY_DECRYPT: {
    status: 500,
    message: 'signing key {kid} cannot be decrypted: KEK {kekId} is neither AUTH_KEK nor AUTH_KEK_PREVIOUS',
  },
  ORDERWIRE_ERR_AUTH_KEYRING_INTEGRITY: {
    status: 503,
    message: 'signing keyring refused: stored keys not proven by the KEK ({failures}); see docs/runbook.md#keyring-integrity',
  },
  ORDERWIRE_ERR_AUTH_TENANT_EXISTS: { status: 409, message: 'tenant {tenant} already exists' },
  ORDERWIRE_ERR_AUTH_TENANT_NOT_FOUND: { status: 404, message: 'tenant {tenant} not found' },
  ORDERWIRE_ERR_AUTH_CLIENT_NOT_FOUND: { status: 404, message: 'client {clientId} not found' },
  ORDERWIRE_ERR_AUTH_ROTATION_UNSAFE: {
    status: 409,
    message: 'rotating now would drop key {kid} while tokens it signed may still be valid (until {until}); pass --force to do it anyway',
  },
  ORDERWIRE_ERR_AUTH_CLI_USAGE: { status: 400, message: '{reason}' },
  ORDERWIRE_ERR_AUTH_BACKUP_DAMAGED: { status: 500, message: 'backup {dir} is damaged: {file}: {reason}' },
});

export type AuthErrorCode = (typeof AUTH_ERRORS.codes)[number];
