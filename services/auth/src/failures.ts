/**
 * One way to record a failed authentication: a metric, and one occurrence in the aggregated
 * audit event `auth_failures` (one AUDIT event per tenant / address / actor per window, with a
 * count per reason: a flood of failed calls must not fill the append-only AUDIT stream).
 */
import { AUTH_FAILURES_EVENT } from '@orderwire/platform';
import type { AuditFields } from './audit.js';
import type { AuthContext, RequestInfo } from './context.js';

export const AUTH_FAILURE_REASONS = [
  'unknown_client',
  'bad_secret',
  'client_revoked',
  'tenant_missing',
  'invalid_client_request',
  'invalid_scope',
  'missing_access_token',
  'invalid_access_token',
  'insufficient_scope',
  'enrollment_invalid',
  'enrollment_expired',
  'enrollment_used',
  'refresh_invalid',
  'refresh_expired',
  'refresh_revoked',
  'refresh_reused',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

export async function recordFailure(
  ctx: Pick<AuthContext, 'metrics' | 'failures'>,
  info: RequestInfo,
  reason: AuthFailureReason,
  fields: AuditFields = {},
): Promise<void> {
  ctx.metrics.failures.inc({ reason });
  const actor = fields.actor;
  const known = actor !== undefined && (actor.type === 'client' || actor.type === 'display');
  ctx.failures.note({
    event: AUTH_FAILURES_EVENT,
    tenant: fields.tenant,
    source: info.ip,
    actor: known ? { type: actor.type as 'client' | 'display', ...(actor.id === undefined ? {} : { id: actor.id }) } : { type: 'anonymous' },
    reason,
    sample: fields.clientId ?? fields.displayId,
  });
  return Promise.resolve();
}
