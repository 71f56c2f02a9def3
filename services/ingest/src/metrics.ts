/**
 * Ingest metrics. Label values are closed sets (see the types), so no request can mint a series.
 */
import type { Metrics } from '@orderwire/platform';
import type { Counter, Gauge, Histogram } from 'prom-client';

export type OrderOutcome = 'accepted' | 'duplicate' | 'rejected' | 'failed';
export type OrderReason =
  | 'ok'
  | 'idempotent_repeat'
  | 'schema'
  | 'invalid_id'
  | 'invalid_idempotency_key'
  | 'idempotency_conflict'
  | 'too_large'
  | 'duplicate_in_batch'
  | 'breaker_open'
  | 'disconnected'
  | 'timeout'
  | 'publish_error'
  | 'verify_failed'
  | 'record_failed';

/** Breaker state as a number, for `orderwire_ingest_breaker_state`. */
export const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;
export type BreakerState = keyof typeof BREAKER_STATE_VALUE;

export interface IngestMetrics {
  orders: Counter<'outcome' | 'reason'>;
  publishDuration: Histogram<'result'>;
  publishRetries: Counter<'reason'>;
  breakerState: Gauge;
  batchSize: Histogram;
  rateLimited: Counter<'service' | 'route'>;
  rateLimitDegraded: Gauge;
  acceptanceRecords: Counter<'result'>;
  registryDisplays: Gauge;
  quotaExceeded: Counter<'quota'>;
}

/** 0.1 ms … 5 s: PubAcks are sub-millisecond when healthy, seconds only in an outage. */
const PUBLISH_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100];

export function createIngestMetrics(metrics: Metrics): IngestMetrics {
  return {
    orders: metrics.counter({
      name: 'orderwire_ingest_orders_total',
      help: 'Orders received by outcome (accepted, duplicate, rejected, failed) and bounded reason',
      labelNames: ['outcome', 'reason'] as const,
    }),
    publishDuration: metrics.histogram({
      name: 'orderwire_ingest_publish_duration_seconds',
      help: 'Time from publish to PubAck on ORDERS (result ok or error)',
      labelNames: ['result'] as const,
      buckets: PUBLISH_BUCKETS,
    }),
    publishRetries: metrics.counter({
      name: 'orderwire_ingest_publish_retries_total',
      help: 'Publishes sent again with the same msg id after a retriable failure, by reason (no_responders, timeout, cluster_unavailable, disconnected)',
      labelNames: ['reason'] as const,
    }),
    breakerState: metrics.gauge({
      name: 'orderwire_ingest_breaker_state',
      help: 'Publish circuit breaker: 0 closed, 1 half-open, 2 open',
    }),
    batchSize: metrics.histogram({
      name: 'orderwire_ingest_batch_size',
      help: 'Orders per POST /v1/orders/batch request',
      buckets: BATCH_BUCKETS,
    }),
    rateLimited: metrics.counter({
      name: 'orderwire_rate_limited_total',
      help: 'Requests refused with 429 by service and route',
      labelNames: ['service', 'route'] as const,
    }),
    rateLimitDegraded: metrics.gauge({
      name: 'orderwire_ingest_rate_limit_degraded',
      help: '1 while Redis is unreachable and the per-process limiter decides',
    }),
    acceptanceRecords: metrics.counter({
      name: 'orderwire_ingest_acceptance_records_total',
      help: 'Order acceptance records on RECEIPTS (one per order): written, already present (a repeat), or failed (the request answers 503)',
      labelNames: ['result'] as const,
    }),
    registryDisplays: metrics.gauge({
      name: 'orderwire_ingest_registry_displays',
      help: 'Active displays in the in-memory display index',
    }),
    quotaExceeded: metrics.counter({
      name: 'orderwire_quota_exceeded_total',
      help: 'Requests refused because a tenant quota was reached, by quota (displays, orders)',
      labelNames: ['quota'] as const,
    }),
  };
}
