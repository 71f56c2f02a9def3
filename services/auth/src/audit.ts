/**
 * The audit trail: one JSON event per security-relevant action, appended to the AUDIT stream
 * (deny delete, deny purge) on `audit.<tenant|_system>.<event>` with the PubAck awaited.
 *
 * Failure policy (docs/auth.md, "Audit"):
 *   - `require` — stateless issuance (client-credential tokens): no audit record, no token;
 *     the caller gets 503 ORDERWIRE_ERR_AUTH_AUDIT_UNAVAILABLE.
 *   - `record` — after a state change already committed in KV (enrollment, refresh, revocation,
 *     registration, decommission, rotation): failing the request would
 *     make the client retry a step that is not idempotent (a retried refresh looks like token
 *     reuse), so the event is logged at error level in full and counted instead. Never silent.
 * Failed attempts are not written here one by one: they are counted into the aggregated
 * `auth_failures` event (failures.ts, platform audit-aggregator.ts).
 * Events never contain secrets or tokens: ids, reasons and addresses only.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { AUDIT_SUBJECT_PREFIX, isValidId } from '@orderwire/contracts';
import type { Logger } from '@orderwire/platform';
import { AUTH_ERRORS } from './errors.js';
import type { AuthMetrics } from './metrics.js';

export const AUDIT_EVENTS = [
  'token_issued',
  'enrolled',
  'refreshed',
  'refresh_retry_grace',
  'refresh_reuse_detected',
  'revoked',
  'display_registered',
  'display_decommissioned',
  'key_rotated',
  'keys_rekeyed',
  'tenant_created',
  'tenant_updated',
  'client_created',
  'client_revoked',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

/** Tenant token for events that belong to no tenant (unknown client, key rotation). */
export const SYSTEM_TENANT = '_system';

/** 5000 ms to wait for the AUDIT PubAck. */
export const AUDIT_PUBLISH_TIMEOUT_MS = 5_000;

export interface AuditActor {
  type: 'client' | 'display' | 'operator' | 'anonymous' | 'system';
  id?: string;
}

export interface AuditFields {
  tenant?: string;
  actor?: AuditActor;
  ip?: string;
  reason?: string;
  clientId?: string;
  displayId?: string;
  familyId?: string;
  kid?: string;
  scope?: string;
  requestId?: string;
  details?: Record<string, unknown>;
}

export interface AuditEvent extends AuditFields {
  v: 1;
  id: string;
  event: AuditEventName;
  tenant: string;
  at: string;
  service: 'auth';
  instance: string;
}

export interface AuditLog {
  /** Appends and awaits the PubAck. @throws ORDERWIRE_ERR_AUTH_AUDIT_UNAVAILABLE */
  require(event: AuditEventName, fields: AuditFields): Promise<void>;
  /** Appends; on failure logs the whole event at error level and counts it. Never throws. */
  record(event: AuditEventName, fields: AuditFields): Promise<void>;
}

export interface AuditLogOptions {
  js: JetStreamClient;
  instance: string;
  logger: Logger;
  metrics?: AuthMetrics;
}

export function auditSubject(tenant: string, event: AuditEventName): string {
  return `${AUDIT_SUBJECT_PREFIX}.${tenant}.${event}`;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { js, instance, logger } = options;

  function build(event: AuditEventName, fields: AuditFields): AuditEvent {
    const tenant = fields.tenant !== undefined && isValidId(fields.tenant) ? fields.tenant : SYSTEM_TENANT;
    return { v: 1, id: randomUUID(), event, at: new Date().toISOString(), service: 'auth', instance, ...fields, tenant };
  }

  async function append(ev: AuditEvent): Promise<void> {
    await js.publish(auditSubject(ev.tenant, ev.event), JSON.stringify(ev), {
      msgID: ev.id,
      timeout: AUDIT_PUBLISH_TIMEOUT_MS,
    });
  }

  return {
    async require(event, fields) {
      const ev = build(event, fields);
      try {
        await append(ev);
      } catch (err) {
        options.metrics?.auditFailures.inc();
        logger.error({ err, audit: ev }, 'audit write failed; refusing the request');
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_AUDIT_UNAVAILABLE', {}, { cause: err });
      }
    },
    async record(event, fields) {
      const ev = build(event, fields);
      try {
        await append(ev);
      } catch (err) {
        options.metrics?.auditFailures.inc();
        logger.error({ err, audit: ev }, 'audit write failed; event preserved in this log line');
      }
    },
  };
}
