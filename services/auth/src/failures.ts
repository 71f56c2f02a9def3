/** One way to record a failed authentication: metric, audit event, then the error to throw. */
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
  ctx: Pick<AuthContext, 'metrics' | 'audit'>,
  info: RequestInfo,
  reason: AuthFailureReason,
  fields: AuditFields = {},
): Promise<void> {
  ctx.metrics.failures.inc({ reason });
  await ctx.audit.record('auth_failed', { ...fields, reason, ip: info.ip, requestId: info.requestId });
}
