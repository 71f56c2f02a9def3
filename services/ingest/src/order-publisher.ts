/**
 * Publishes order messages to ORDERS and returns only with a PubAck. An opossum circuit breaker
 * wraps the publish: after enough failures it opens and every publish fails fast (503 with
 * `Retry-After`) instead of queueing requests behind a broker that does not answer. While the
 * connection is down publishes are refused without touching the breaker.
 */
import { errors as natsErrors, type MsgHdrs } from '@nats-io/nats-core';
import type { PubAck } from '@nats-io/jetstream';
import type { OrderwireError } from '@orderwire/platform';
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { INGEST_ERRORS, type UnavailableReason } from './errors.js';
import type { JsPublisher } from './jetstream-publish.js';
import { BREAKER_STATE_VALUE, type BreakerState, type IngestMetrics } from './metrics.js';
import type { ConnectionState } from './nats-connection-state.js';

export interface PublishRequest {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  msgId: string;
}

export interface BreakerOptions {
  timeoutMs: number;
  errorThresholdPercentage: number;
  volumeThreshold: number;
  resetTimeoutMs: number;
  windowMs: number;
}

export interface OrderPublisherOptions {
  js: Pick<JsPublisher, 'publish'>;
  connection: ConnectionState;
  breaker: BreakerOptions;
  /** `Retry-After` (ms) for refusals not caused by the open breaker. */
  retryAfterMs: number;
  metrics: IngestMetrics;
  logger: Logger;
}

export interface OrderPublisher {
  /**
   * Resolves with the PubAck (for a duplicate: the original sequence and `duplicate: true`).
   * @throws ORDERWIRE_ERR_INGEST_UNAVAILABLE with `details.reason` and `details.retryAfterSeconds`
   */
  publish(req: PublishRequest): Promise<PubAck>;
  /** Throws ORDERWIRE_ERR_INGEST_UNAVAILABLE when a publish would be refused right now. */
  assertAvailable(): void;
  state(): BreakerState;
  shutdown(): void;
}

/** opossum's error codes for a rejected fire (open breaker) and its own timeout. */
const OPOSSUM_OPEN = 'EOPENBREAKER';
const OPOSSUM_TIMEOUT = 'ETIMEDOUT';

function unavailable(reason: UnavailableReason, retryAfterMs: number, cause?: unknown): OrderwireError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_UNAVAILABLE', { reason }, { details: { reason, retryAfterSeconds }, cause });
}

export function createOrderPublisher(options: OrderPublisherOptions): OrderPublisher {
  const { js, connection, metrics, logger } = options;
  const b = options.breaker;
  let openedAt = 0;

  const breaker = new CircuitBreaker(
    (req: PublishRequest) =>
      js.publish(req.subject, req.data, { msgID: req.msgId, headers: req.headers, timeoutMs: b.timeoutMs }),
    {
      name: 'orders-publish',
      timeout: b.timeoutMs,
      errorThresholdPercentage: b.errorThresholdPercentage,
      volumeThreshold: b.volumeThreshold,
      resetTimeout: b.resetTimeoutMs,
      rollingCountTimeout: b.windowMs,
    },
  );
  let state: BreakerState = 'closed';
  const setState = (s: BreakerState): void => {
    state = s;
    metrics.breakerState.set(BREAKER_STATE_VALUE[s]);
  };
  setState('closed');
  breaker.on('open', () => {
    openedAt = Date.now();
    setState('open');
    logger.warn({ breaker: 'orders-publish', resetTimeoutMs: b.resetTimeoutMs }, 'publish breaker opened');
  });
  breaker.on('halfOpen', () => {
    setState('half_open');
    logger.info({ breaker: 'orders-publish' }, 'publish breaker half-open; next publish is a trial');
  });
  breaker.on('close', () => {
    setState('closed');
    logger.info({ breaker: 'orders-publish' }, 'publish breaker closed');
  });

  function openRetryAfterMs(): number {
    return Math.max(1000, b.resetTimeoutMs - (Date.now() - openedAt));
  }

  function assertAvailable(): void {
    if (!connection.connected()) throw unavailable('disconnected', options.retryAfterMs);
    if (breaker.opened) throw unavailable('breaker_open', openRetryAfterMs());
  }

  return {
    assertAvailable,
    async publish(req) {
      assertAvailable();
      const started = performance.now();
      try {
        const ack = await breaker.fire(req);
        metrics.publishDuration.observe({ result: 'ok' }, (performance.now() - started) / 1000);
        return ack;
      } catch (err) {
        metrics.publishDuration.observe({ result: 'error' }, (performance.now() - started) / 1000);
        const code = (err as { code?: unknown }).code;
        if (code === OPOSSUM_OPEN) throw unavailable('breaker_open', openRetryAfterMs(), err);
        if (code === OPOSSUM_TIMEOUT || err instanceof natsErrors.TimeoutError) {
          throw unavailable('timeout', options.retryAfterMs, err);
        }
        if (!connection.connected()) throw unavailable('disconnected', options.retryAfterMs, err);
        logger.error({ err, subject: req.subject }, 'publish to ORDERS failed');
        throw unavailable('publish_error', options.retryAfterMs, err);
      }
    },
    state: () => state,
    shutdown: () => breaker.shutdown(),
  };
}
