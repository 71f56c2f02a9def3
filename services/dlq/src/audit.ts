/**
 * Audit events of the DLQ: every replay and discard, appended to AUDIT (deny delete, deny purge) on
 * `audit.<tenant>.dlq_replayed` / `audit.<tenant>.dlq_discarded` with the PubAck awaited.
 *
 * The event is written after the state change it records (the replay is published, the entry
 * updated): failing the request then would invite a retry of a step that already happened. So a
 * failed append is logged in full at error level and counted (`orderwire_dlq_audit_failures_total`),
 * never dropped silently — the same policy as the auth service's `record`. The `Nats-Msg-Id` is
 * derived from the action (entry id and replay number), so a retried action is audited once.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { AUDIT_SUBJECT_PREFIX } from '@orderwire/contracts';
import type { Logger } from '@orderwire/platform';
import type { Actor } from './entry.js';
import type { DlqMetrics } from './metrics.js';

export const AUDIT_EVENTS = ['dlq_replayed', 'dlq_discarded'] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export interface AuditFields {
  tenant: string;
  actor: Actor;
  entryId: string;
  orderId: string | null;
  displayId: string;
  storeId: string | null;
  reason?: string;
  /** Replays: ORDERS subject and sequence of the replayed copy, and the replay number. */
  subject?: string;
  replaySeq?: number;
  replayN?: number;
  requestId?: string;
}

export interface AuditEvent extends AuditFields {
  v: 1;
  id: string;
  event: AuditEventName;
  at: string;
  service: 'dlq';
  instance: string;
}

export interface AuditLog {
  /** Appends with `dedupeKey` as `Nats-Msg-Id`; on failure logs the whole event and counts it. Never throws. */
  record(event: AuditEventName, fields: AuditFields, dedupeKey: string): Promise<boolean>;
}

export interface AuditLogOptions {
  js: JetStreamClient;
  instance: string;
  timeoutMs: number;
  logger: Logger;
  metrics: DlqMetrics;
}

export function auditSubject(tenant: string, event: AuditEventName): string {
  return `${AUDIT_SUBJECT_PREFIX}.${tenant}.${event}`;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { js, instance, logger, metrics } = options;
  return {
    async record(event, fields, dedupeKey) {
      const ev: AuditEvent = { v: 1, id: randomUUID(), event, at: new Date().toISOString(), service: 'dlq', instance, ...fields };
      try {
        await js.publish(auditSubject(ev.tenant, event), JSON.stringify(ev), { msgID: `${event}:${dedupeKey}`, timeout: options.timeoutMs });
        return true;
      } catch (err) {
        metrics.auditFailures.inc();
        logger.error({ err, audit: ev }, 'audit write failed; event preserved in this log line');
        return false;
      }
    },
  };
}
