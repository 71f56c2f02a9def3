/**
 * The edge's Prometheus metrics. No label carries a display id: per-display state is
 * summarised (displays with backlog, oldest unacked age) so 10,000 displays cost a handful of
 * series.
 */
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { DisconnectReason } from '@orderwire/contracts';
import type { Metrics } from '@orderwire/platform';

/** Buckets around the 250 ms end-to-end SLO. */
export const E2E_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 2, 5];
/** Display ack round trips: loopback sub-ms to slow store Wi-Fi seconds. */
export const ACK_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const PULL_LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

/** `ok`, or the refusal reason sent to the display. */
export type HandshakeOutcome = 'ok' | DisconnectReason;
export const HANDSHAKE_OUTCOMES: readonly HandshakeOutcome[] = [
  'ok',
  'unauthorized',
  'token_expired',
  'token_revoked',
  'forbidden_origin',
  'rate_limited',
  'display_decommissioned',
  'server_shutdown',
  'internal_error',
];
/**
 * Per-message outcomes. Besides the documented five: `ack_failed` — the display acked but
 * JetStream did not confirm (it redelivers, the SDK drops the duplicate); `handed_back` — nak'ed
 * without delay because the session ended (returns to the mailbox, never towards the DLQ).
 */
export const DELIVERY_OUTCOMES = ['acked', 'rejected', 'timed_out', 'redelivered', 'terminated', 'ack_failed', 'handed_back'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];
export const PULL_OUTCOMES = ['complete', 'timeout', 'limited', 'consumer_missing', 'error'] as const;
/** `session:end` reasons the edge itself sends (contracts `DisconnectReason`). */
export const SESSION_END_REASONS = ['session_replaced', 'token_expired', 'token_revoked', 'display_decommissioned', 'server_shutdown', 'rate_limited'] as const;
/** Redis adapter operations that can fail. */
export const REDIS_OPS = ['pub', 'sub', 'publish', 'presence'] as const;
/** Which part of a foreign message's subject did not match the session (`orderwire_edge_foreign_messages_total`). */
export const FOREIGN_FIELDS = ['tenant', 'store', 'display', 'subject'] as const;
export type ForeignField = (typeof FOREIGN_FIELDS)[number];
/** Doorbell rings received: `matched` woke at least one mailbox, `unmatched` none (interest held for nothing). */
export const RING_OUTCOMES = ['matched', 'unmatched'] as const;
export const PULL_REASONS = ['connect', 'doorbell', 'handback', 'followup', 'timer', 'sweep', 'reconnect', 'retry'] as const;

export interface EdgeMetricSources {
  connections(): number;
  natsConnected(): boolean;
  /** undefined when the node runs without Redis. */
  redisConnected(): boolean | undefined;
  displaysWithBacklog(): number;
  /** Age in seconds of the oldest message held at a display and not yet acked (0 if none). */
  oldestUnackedAgeSeconds(): number;
  outstandingPulls(): number;
  /** NATS subscriptions the doorbell holds (its interest on the server). */
  doorbellSubscriptions(): number;
  /** Displays online on this node per (tenant, store), capped (see EDGE_PRESENCE_STORE_LABELS). */
  storeCounts?(): readonly { tenant: string; store: string; online: number }[];
}

export interface EdgeMetrics {
  handshakes: Counter<'outcome'>;
  rateLimited: Counter<'route'>;
  deliveries: Counter<'outcome'>;
  foreignMessages: Counter<'field'>;
  ackLatency: Histogram;
  e2eLatency: Histogram;
  pulls: Counter<'outcome'>;
  pullWakeups: Counter<'reason'>;
  pullLatency: Histogram;
  doorbellRings: Counter<'outcome'>;
  sessionReplaced: Counter;
  sessionEnded: Counter<'reason'>;
  receiptFailures: Counter;
  expiredNotices: Counter<'outcome'>;
  refreshes: Counter<'outcome'>;
  redisErrors: Counter<'op'>;
  /** Sources read at scrape time; set once the app exists. */
  bind(sources: EdgeMetricSources): void;
}

export function createEdgeMetrics(metrics: Metrics): EdgeMetrics {
  let sources: EdgeMetricSources | undefined;
  const gauge = (name: string, help: string, read: (s: EdgeMetricSources) => number): Gauge =>
    metrics.gauge({
      name,
      help,
      collect() {
        this.set(sources === undefined ? 0 : read(sources));
      },
    });
  gauge('orderwire_edge_connections', 'Display sockets connected to this edge node', (s) => s.connections());
  gauge('orderwire_edge_displays_with_backlog', 'Connected displays with deliveries awaiting their ack or messages left on their consumer', (s) =>
    s.displaysWithBacklog(),
  );
  gauge('orderwire_edge_oldest_unacked_age_seconds', 'Age (since stored) of the oldest message at a display awaiting its ack', (s) =>
    s.oldestUnackedAgeSeconds(),
  );
  gauge('orderwire_nats_connected', "1 while this node's NATS connection is up", (s) => (s.natsConnected() ? 1 : 0));
  metrics.gauge({
    name: 'orderwire_redis_connected',
    help: "1 while this node's Redis adapter clients are ready, 0 otherwise",
    collect() {
      const up = sources?.redisConnected();
      if (up !== undefined) this.set(up ? 1 : 0);
    },
  });
  metrics.gauge({
    name: 'orderwire_edge_displays_online',
    help: 'Displays connected to this node per tenant and store; stores beyond EDGE_PRESENCE_STORE_LABELS are summed under store="_other"',
    labelNames: ['tenant', 'store'],
    collect() {
      // Rebuilt on every scrape: a store whose last display left must not linger at its old value.
      this.reset();
      for (const row of sources?.storeCounts?.() ?? []) this.set({ tenant: row.tenant, store: row.store }, row.online);
    },
  });
  gauge('orderwire_edge_pulls_in_flight', 'JetStream pull requests awaiting their answer', (s) => s.outstandingPulls());
  gauge('orderwire_edge_doorbell_subscriptions', 'Core NATS subscriptions the doorbell holds for connected displays', (s) => s.doorbellSubscriptions());

  const m: EdgeMetrics = {
    handshakes: metrics.counter({
      name: 'orderwire_edge_handshakes_total',
      help: 'Socket.IO handshakes by outcome',
      labelNames: ['outcome'],
    }),
    rateLimited: metrics.counter({
      name: 'orderwire_rate_limited_total',
      help: 'Requests or handshakes refused by a rate limit',
      labelNames: ['route'],
    }),
    deliveries: metrics.counter({
      name: 'orderwire_edge_deliveries_total',
      help: 'Per-message delivery outcomes (redelivered counts emits with deliveryCount > 1)',
      labelNames: ['outcome'],
    }),
    foreignMessages: metrics.counter({
      name: 'orderwire_edge_foreign_messages_total',
      help: "Messages pulled from a display's mailbox whose subject names another tenant, store or display; terminated, never emitted",
      labelNames: ['field'],
    }),
    ackLatency: metrics.histogram({
      name: 'orderwire_edge_ack_latency_seconds',
      help: 'From emitting an orders batch to the display answering it',
      buckets: ACK_LATENCY_BUCKETS,
    }),
    e2eLatency: metrics.histogram({
      name: 'orderwire_delivery_e2e_latency_seconds',
      help: 'From ingest accepting an order to the display acking it (server-confirmed)',
      buckets: E2E_LATENCY_BUCKETS,
    }),
    pulls: metrics.counter({
      name: 'orderwire_edge_pulls_total',
      help: 'Pulls from display consumers by how they ended',
      labelNames: ['outcome'],
    }),
    pullWakeups: metrics.counter({
      name: 'orderwire_edge_pull_wakeups_total',
      help: 'Pulls by what woke the mailbox (doorbell, follow-up, sweep, ...)',
      labelNames: ['reason'],
    }),
    pullLatency: metrics.histogram({
      name: 'orderwire_edge_pull_duration_seconds',
      help: 'From sending a pull request to its last answer',
      buckets: PULL_LATENCY_BUCKETS,
    }),
    doorbellRings: metrics.counter({
      name: 'orderwire_edge_doorbell_rings_total',
      help: 'Doorbell rings (headers of a stored order) received, by whether a connected display listens on the subject',
      labelNames: ['outcome'],
    }),
    sessionReplaced: metrics.counter({
      name: 'orderwire_edge_session_replaced_total',
      help: 'Connections that replaced an older session of the same display',
    }),
    sessionEnded: metrics.counter({
      name: 'orderwire_edge_sessions_ended_total',
      help: 'Sessions the edge ended, by session:end reason',
      labelNames: ['reason'],
    }),
    receiptFailures: metrics.counter({
      name: 'orderwire_edge_receipt_failures_total',
      help: 'Delivery receipts that could not be written (the order itself was acked)',
    }),
    expiredNotices: metrics.counter({
      name: 'orderwire_edge_expired_notices_total',
      help: 'orders:expired notices after the handshake, by outcome: acked (recorded as told), unanswered (told again next time), failed (could not be read or cleared)',
      labelNames: ['outcome'],
    }),
    refreshes: metrics.counter({
      name: 'orderwire_edge_token_refreshes_total',
      help: 'In-band auth:refresh requests by outcome',
      labelNames: ['outcome'],
    }),
    redisErrors: metrics.counter({
      name: 'orderwire_edge_redis_errors_total',
      help: 'Redis adapter errors (cross-node broadcast degraded; local delivery unaffected)',
      labelNames: ['op'],
    }),
    bind(s) {
      sources = s;
    },
  };
  // Known label values start at 0, so rate() and dashboards see a zero rather than nothing.
  for (const outcome of HANDSHAKE_OUTCOMES) m.handshakes.inc({ outcome }, 0);
  for (const outcome of DELIVERY_OUTCOMES) m.deliveries.inc({ outcome }, 0);
  for (const field of FOREIGN_FIELDS) m.foreignMessages.inc({ field }, 0);
  for (const outcome of PULL_OUTCOMES) m.pulls.inc({ outcome }, 0);
  for (const reason of PULL_REASONS) m.pullWakeups.inc({ reason }, 0);
  for (const outcome of RING_OUTCOMES) m.doorbellRings.inc({ outcome }, 0);
  for (const reason of SESSION_END_REASONS) m.sessionEnded.inc({ reason }, 0);
  for (const op of REDIS_OPS) m.redisErrors.inc({ op }, 0);
  m.rateLimited.inc({ route: 'handshake' }, 0);
  m.rateLimited.inc({ route: 'connection_cap' }, 0);
  m.rateLimited.inc({ route: 'socket_event' }, 0);
  return m;
}
