/**
 * Token-event metrics. Labels are closed sets (kind, outcome, reason, route), never ids.
 * The `service` label comes from the registry's default labels.
 */
import type { Counter } from 'prom-client';
import type { Metrics } from '@orderwire/platform';

export type TokenKind = 'client' | 'display_enroll' | 'display_refresh';
export type RefreshOutcome = 'success' | 'retry_grace' | 'invalid' | 'expired' | 'revoked' | 'reused';
export type RevocationReason = 'token_revoked' | 'reuse_detected' | 'display_decommissioned' | 'superseded';

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
}

export function createAuthMetrics(metrics: Metrics): AuthMetrics {
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
  };
}
