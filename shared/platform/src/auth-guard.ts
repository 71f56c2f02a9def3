/**
 * What every API that authenticates bearer tokens (ingest, dlq) puts around its token check:
 *
 *   - `gate` (route `onRequest`, before the token is read): an address (IPv6: its /64) whose recent requests failed
 *     authentication `max` times in the window is refused with 429
 *     ORDERWIRE_ERR_TOO_MANY_AUTH_FAILURES, before any parsing or signature check;
 *   - `refused` (the bearer hook's `onReject`): counts the failure for the gate (401s only: a 403
 *     is a valid token without the scope, a 503 is our JWKS outage, neither is the caller forging)
 *     and into the aggregated audit (`auth_failures`, one event per address per window).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditAggregator } from './audit-aggregator.js';
import { PLATFORM_ERRORS } from './errors.js';
import { addressKey, createFailureGate, type FailureGateOptions } from './rate-limit.js';

/** Aggregated audit event of refused authentications (every service uses this name). */
export const AUTH_FAILURES_EVENT = 'auth_failures';

export interface AuthRefusal {
  /** Stable code of the refusal (e.g. ORDERWIRE_ERR_TOKEN_INVALID_SIGNATURE): the audit reason. */
  code: string;
  status: number;
  /** Known only when the token was valid but not good enough (scope). */
  tenant?: string;
  clientId?: string;
}

export interface AuthGuard {
  /** Route `onRequest` hook, before the bearer check. */
  readonly gate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The bearer hook's `onReject`. */
  readonly refused: (request: FastifyRequest, refusal: AuthRefusal) => void;
}

export interface AuthGuardOptions extends FailureGateOptions {
  audit: AuditAggregator;
  /** Called for each request the gate refuses (metrics). */
  onLimited?: (request: FastifyRequest) => void;
}

export function createAuthGuard(options: AuthGuardOptions): AuthGuard {
  const gate = createFailureGate(options);
  return {
    async gate(request, reply) {
      const after = gate.blocked(addressKey(request.ip));
      if (after === undefined) return;
      options.onLimited?.(request);
      void reply.header('retry-after', String(after));
      throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_TOO_MANY_AUTH_FAILURES', { after: `${after}s` }, { details: { retryAfterSeconds: after } });
    },
    refused(request, refusal) {
      if (refusal.status === 401) gate.fail(addressKey(request.ip));
      options.audit.note({
        event: AUTH_FAILURES_EVENT,
        tenant: refusal.tenant,
        source: request.ip,
        actor: refusal.clientId === undefined ? { type: 'anonymous' } : { type: 'client', id: refusal.clientId },
        reason: refusal.code,
        sample: refusal.clientId,
      });
    },
  };
}
