/**
 * Dispatcher metrics. Labels are closed sets (event types, attempt outcomes, reasons), never an
 * endpoint, tenant or URL, so no customer can mint a series.
 */
import { WEBHOOK_ATTEMPT_OUTCOMES } from '@orderwire/contracts';
import type { Metrics } from '@orderwire/platform';
import type { Counter, Gauge, Histogram } from 'prom-client';

export interface WebhooksMetrics {
  deliveriesCreated: Counter<'type'>;
  attempts: Counter<'outcome'>;
  attemptDuration: Histogram;
  deliveriesFinished: Counter<'result'>;
  pending: Gauge;
  queueAge: Gauge;
  endpoints: Gauge<'state'>;
  endpointsDisabled: Counter<'reason'>;
  breakersOpen: Gauge;
  receipts: Counter<'result'>;
  presenceEvents: Counter<'type'>;
}

/** 10 ms … 60 s: a receiver answering in seconds is slow, at the timeout it is dead. */
const ATTEMPT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60];

export function createWebhooksMetrics(metrics: Metrics): WebhooksMetrics {
  const m: WebhooksMetrics = {
    deliveriesCreated: metrics.counter({
      name: 'orderwire_webhooks_deliveries_created_total',
      help: 'Deliveries created (one per event and subscribed endpoint) by event type',
      labelNames: ['type'] as const,
    }),
    attempts: metrics.counter({
      name: 'orderwire_webhooks_delivery_attempts_total',
      help: 'Delivery attempts by outcome: success, http_error, redirect, gone, timeout, network_error, refused_address',
      labelNames: ['outcome'] as const,
    }),
    attemptDuration: metrics.histogram({
      name: 'orderwire_webhooks_delivery_attempt_duration_seconds',
      help: 'Time from the start of an attempt to the receiver’s answer (or the failure)',
      buckets: ATTEMPT_BUCKETS,
    }),
    deliveriesFinished: metrics.counter({
      name: 'orderwire_webhooks_deliveries_finished_total',
      help: 'Deliveries that reached a final state: succeeded, exhausted (retries used up), endpoint_gone, endpoint_deleted',
      labelNames: ['result'] as const,
    }),
    pending: metrics.gauge({ name: 'orderwire_webhooks_pending_deliveries', help: 'Deliveries waiting for their next attempt (all replicas see the same set: aggregate with max)' }),
    queueAge: metrics.gauge({
      name: 'orderwire_webhooks_queue_age_seconds',
      help: 'How long the most overdue delivery has been due without being attempted (0 when none is waiting)',
    }),
    endpoints: metrics.gauge({
      name: 'orderwire_webhooks_endpoints',
      help: 'Webhook endpoints by state: enabled, disabled (aggregate with max)',
      labelNames: ['state'] as const,
    }),
    endpointsDisabled: metrics.counter({
      name: 'orderwire_webhooks_endpoints_disabled_total',
      help: 'Endpoints this dispatcher disabled, by reason: gone (410), failing (sustained failure)',
      labelNames: ['reason'] as const,
    }),
    breakersOpen: metrics.gauge({ name: 'orderwire_webhooks_breakers_open', help: 'Endpoints whose circuit breaker is open (attempts paused) in this process' }),
    receipts: metrics.counter({
      name: 'orderwire_webhooks_receipts_total',
      help: 'RECEIPTS messages read by result: event (deliveries created), no_endpoint, not_an_event, malformed, retried',
      labelNames: ['result'] as const,
    }),
    presenceEvents: metrics.counter({
      name: 'orderwire_webhooks_presence_events_total',
      help: 'display.offline / display.online events detected',
      labelNames: ['type'] as const,
    }),
  };
  // Every outcome's series exists from the start: the dashboard's attempts panel and the failure
  // ratio read 0, not "no data", before the first delivery.
  for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) m.attempts.inc({ outcome }, 0);
  return m;
}
