/**
 * DLQ metrics. Label values are closed sets (entry reasons, outcomes), never ids, so no tenant,
 * display or order can mint a series.
 */
import type { Metrics } from '@orderwire/platform';
import type { Counter, Gauge, Histogram } from 'prom-client';

export type AdvisoryResult = 'captured' | 'reopened' | 'duplicate' | 'ignored' | 'retried';
/** What the expiry detector found in an acceptance record. */
export type ExpiryResult = 'expired' | 'settled' | 'no_targets' | 'waiting' | 'malformed' | 'retried';

export interface DlqMetrics {
  entries: Counter<'reason'>;
  replayed: Counter;
  discarded: Counter;
  depth: Gauge;
  advisoryLag: Histogram;
  advisoriesPending: Gauge;
  advisories: Counter<'result'>;
  receipts: Counter<'status' | 'result'>;
  auditFailures: Counter;
  rateLimited: Counter<'route'>;
  expired: Counter;
  expiryRecords: Counter<'result'>;
  expiryLag: Histogram;
}

/** 10 ms … 1 h: normally well under a second; minutes or hours after the service was down. */
const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export function createDlqMetrics(metrics: Metrics): DlqMetrics {
  return {
    entries: metrics.counter({
      name: 'orderwire_dlq_entries_total',
      help: 'Failures recorded in the DLQ (new entries and reopened ones) by reason',
      labelNames: ['reason'] as const,
    }),
    replayed: metrics.counter({ name: 'orderwire_dlq_replayed_total', help: 'DLQ entries replayed to their display' }),
    discarded: metrics.counter({ name: 'orderwire_dlq_discarded_total', help: 'DLQ entries discarded' }),
    depth: metrics.gauge({
      name: 'orderwire_dlq_depth',
      help: 'Open DLQ entries, all tenants (every replica reports the same value: aggregate with max)',
    }),
    advisoryLag: metrics.histogram({
      name: 'orderwire_dlq_advisory_lag_seconds',
      help: 'Time from the advisory (server timestamp) to the DLQ entry being persisted',
      buckets: LAG_BUCKETS,
    }),
    advisoriesPending: metrics.gauge({
      name: 'orderwire_dlq_advisories_pending',
      help: 'Advisories in ADVISORIES not yet delivered to the capture consumer (num_pending)',
    }),
    advisories: metrics.counter({
      name: 'orderwire_dlq_advisories_total',
      help: 'Advisories processed by result: captured, reopened, duplicate, ignored (not a display consumer, unparsable), retried',
      labelNames: ['result'] as const,
    }),
    receipts: metrics.counter({
      name: 'orderwire_dlq_receipts_total',
      help: 'Receipts the DLQ writes (dead_lettered, replayed, expired) by result: written, unchanged, superseded, failed',
      labelNames: ['status', 'result'] as const,
    }),
    expired: metrics.counter({
      name: 'orderwire_dlq_expired_orders_total',
      help: 'Orders found expired before a target display acknowledged them (one per order and display)',
    }),
    expiryRecords: metrics.counter({
      name: 'orderwire_dlq_expiry_records_total',
      help: 'Acceptance records the expiry detector looked at, by result: expired, settled, no_targets, waiting (not due), malformed, retried',
      labelNames: ['result'] as const,
    }),
    expiryLag: metrics.histogram({
      name: 'orderwire_dlq_expiry_lag_seconds',
      help: 'Time from when an order aged out (accepted + max age) to its expired receipt being written',
      buckets: LAG_BUCKETS,
    }),
    auditFailures: metrics.counter({
      name: 'orderwire_dlq_audit_failures_total',
      help: 'Audit events that could not be appended to AUDIT (each is logged in full at error level)',
    }),
    rateLimited: metrics.counter({
      name: 'orderwire_rate_limited_total',
      help: 'Requests refused with 429 by limit: read, replay (per tenant), auth_failures (per address, before authentication)',
      labelNames: ['route'] as const,
    }),
  };
}
