/**
 * Token-event metrics. Labels are closed sets (kind, outcome, reason, route), never ids.
 * The `service` label comes from the registry's default labels.
 */
import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '@orderwire/platform';
import { AUTH_FAILURE_REASONS } from './failures.js';
import { KEY_INTEGRITY_PROBLEMS } from './keys/keyring.js';

export const TOKEN_KINDS = ['client', 'display_enroll', 'display_refresh'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];
export const REFRESH_OUTCOMES = ['success', 'retry_grace', 'invalid', 'expired', 'revoked', 'reused'] as const;
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];
export const REVOCATION_REASONS = ['token_revoked', 'reuse_detected', 'display_decommissioned', 'superseded'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export interface AuthMetrics {
  tokensIssued: Counter<'kind'>;
  refresh: Counter<'outcome'>;
  reuseDetected: Counter;
  revocations: Counter<'reason'>;
  failures: Counter<'reason'>;
  keyRotations: Counter;
  rateLimited: Counter<'route'>;
  rateLimitFallbacks: Counter;
  auditFailures: Counter;
  keyringIntegrityFailures: Counter<'problem'>;
  keyringIntegrityOk: Gauge;
  quotaExceeded: Counter<'quota'>;
}

export function createAuthMetrics(metrics: Metrics): AuthMetrics {
  const m = buildAuthMetrics(metrics);
  // Known label values start at 0 so panels and alerts read 0, not "no data", before traffic.
  for (const kind of TOKEN_KINDS) m.tokensIssued.inc({ kind }, 0);
  for (const outcome of REFRESH_OUTCOMES) m.refresh.inc({ outcome }, 0);
  for (const reason of REVOCATION_REASONS) m.revocations.inc({ reason }, 0);
  for (const reason of AUTH_FAILURE_REASONS) m.failures.inc({ reason }, 0);
  for (const problem of KEY_INTEGRITY_PROBLEMS) m.keyringIntegrityFailures.inc({ problem }, 0);
  m.quotaExceeded.inc({ quota: 'displays' }, 0);
  return m;
}

function buildAuthMetrics(metrics: Metrics): AuthMetrics {
  return {
    tokensIssued: metrics.counter({
      name: 'orderwire_auth_tokens_issued_total',
      help: 'Access tokens issued, by kind (client credentials, display enrollment, display refresh)',
      labelNames: ['kind'] as const,
    }),
    refresh: metrics.counter({
      name: 'orderwire_auth_refresh_total',
      help: 'Refresh-token exchanges by outcome',
      labelNames: ['outcome'] as const,
    }),
    reuseDetected: metrics.counter({
      name: 'orderwire_auth_refresh_reuse_detected_total',
      help: 'Spent refresh tokens presented again (each revokes its family)',
    }),
    revocations: metrics.counter({
      name: 'orderwire_auth_revocations_total',
      help: 'Refresh-token families revoked, by reason',
      labelNames: ['reason'] as const,
    }),
    failures: metrics.counter({
      name: 'orderwire_auth_failures_total',
      help: 'Failed authentications, by reason',
      labelNames: ['reason'] as const,
    }),
    keyRotations: metrics.counter({
      name: 'orderwire_auth_key_rotations_total',
      help: 'Signing-key rotations written by this instance',
    }),
    rateLimited: metrics.counter({
      name: 'orderwire_rate_limited_total',
      help: 'Requests rejected by a rate limit, by route',
      labelNames: ['route'] as const,
    }),
    rateLimitFallbacks: metrics.counter({
      name: 'orderwire_auth_rate_limit_fallback_total',
      help: 'Rate-limit checks answered by the in-process limiter because Redis was unavailable',
    }),
    auditFailures: metrics.counter({
      name: 'orderwire_auth_audit_write_failures_total',
      help: 'Audit events that could not be appended to the AUDIT stream (logged instead)',
    }),
    keyringIntegrityFailures: metrics.counter({
      name: 'orderwire_auth_keyring_integrity_failures_total',
      help: 'Stored signing keys refused because the KEK does not prove them (the keyring was not served), by problem',
      labelNames: ['problem'] as const,
    }),
    keyringIntegrityOk: metrics.gauge({
      name: 'orderwire_auth_keyring_integrity_ok',
      help: '1 when the last keyring read from the store passed the integrity check, 0 when it was refused',
    }),
    quotaExceeded: metrics.counter({
      name: 'orderwire_quota_exceeded_total',
      help: 'Requests refused because a tenant quota was reached, by quota (displays, orders)',
      labelNames: ['quota'] as const,
    }),
  };
}
