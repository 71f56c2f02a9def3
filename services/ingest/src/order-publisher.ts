/**
 * Publishes order messages to ORDERS and returns only with a PubAck. An opossum circuit breaker
 * wraps the publish: after enough failures it opens and every publish fails fast (503 with
 * `Retry-After`) instead of queueing requests behind a broker that does not answer.
 *
 * Inside the breaker, a publish that fails in a way a JetStream cluster recovers from by itself —
 * the stream has no leader during an election (no responders, API status 503), no PubAck in time,
 * the connection is reconnecting to another node — is sent again with the same `Nats-Msg-Id`
 * after a short backoff, until the retry window has passed since the first attempt. The stream's
 * duplicate window makes the repeat safe: a message the old leader did store is answered
 * `duplicate: true` with its original sequence. So the loss of one node of a 3-node cluster costs
 * a request a few seconds, not a 503, and the breaker sees one success. When the window runs out
 * the breaker counts one failure, so a dead or frozen broker still opens it, and an open breaker
 * refuses at once without waiting the window.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errors as natsErrors, type MsgHdrs } from '@nats-io/nats-core';
import { JetStreamApiError, JetStreamError, type PubAck } from '@nats-io/jetstream';
import type { OrderwireError } from '@orderwire/platform';
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { INGEST_ERRORS, type UnavailableReason } from './errors.js';
import type { JsPublishOptions, JsPublisher } from './jetstream-publish.js';
import { BREAKER_STATE_VALUE, type BreakerState, type IngestMetrics } from './metrics.js';
import type { ConnectionState } from './nats-connection-state.js';

export interface PublishRequest {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  /** `Nats-Msg-Id` (orders); absent for a record written with an expectation instead. */
  msgId?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: a repeat after a lost PubAck is refused, not stored twice. */
  expectLastSubjectSequence?: number;
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
  /**
   * How long after the first attempt a retriable failure is retried (0: never). A request takes
   * at most this plus one publish timeout.
   */
  retryWindowMs: number;
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
  /**
   * Publishes to another stream (an order's acceptance record on RECEIPTS) with the same retries
   * through elections and reconnects, outside the ORDERS breaker. Rejects with the last error
   * (a wrong-last-sequence error when `expectLastSubjectSequence` did not hold).
   */
  publishRetrying(req: PublishRequest, timeoutMs: number): Promise<PubAck>;
  /** Throws ORDERWIRE_ERR_INGEST_UNAVAILABLE when a publish would be refused right now. */
  assertAvailable(): void;
  state(): BreakerState;
  shutdown(): void;
}

/** opossum's error code for a rejected fire (open breaker). */
const OPOSSUM_OPEN = 'EOPENBREAKER';
/**
 * The API status of JetStream errors that say "not now" rather than "no": a stream or the meta
 * group without a leader (JSClusterNotAvailErr, JSStreamOfflineErr, JSClusterNotLeaderErr … in
 * nats-server `server/errors.json` all carry HTTP-like code 503).
 */
const JS_STATUS_SERVICE_UNAVAILABLE = 503;
/** First backoff between attempts; doubled up to the cap (an election takes seconds). */
const RETRY_BACKOFF_FIRST_MS = 50;
const RETRY_BACKOFF_MAX_MS = 400;
/** An attempt with less than this left of the window is not started. */
const RETRY_MIN_ATTEMPT_MS = 50;

/** Refusal reason of a publish failure, or undefined when it is not worth retrying. */
export type RetriableFailure = 'no_responders' | 'timeout' | 'cluster_unavailable' | 'disconnected';

/** Why a failed publish may succeed if sent again shortly (see the module comment). */
export function retriableFailure(err: unknown, connected: boolean): RetriableFailure | undefined {
  if (!connected) return 'disconnected';
  if (err instanceof natsErrors.TimeoutError) return 'timeout';
  if (err instanceof JetStreamApiError) return err.status === JS_STATUS_SERVICE_UNAVAILABLE ? 'cluster_unavailable' : undefined;
  if (err instanceof JetStreamError && err.cause instanceof natsErrors.NoRespondersError) return 'no_responders';
  if (err instanceof natsErrors.NoRespondersError) return 'no_responders';
  // The request was cancelled because the connection dropped under it.
  if (err instanceof natsErrors.RequestError || err instanceof natsErrors.ClosedConnectionError) return 'disconnected';
  return undefined;
}

/** Failure of the retry loop after the window ran out while disconnected (no attempt was sent). */
class DisconnectedError extends Error {}

function unavailable(reason: UnavailableReason, retryAfterMs: number, cause?: unknown): OrderwireError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return INGEST_ERRORS.create('ORDERWIRE_ERR_INGEST_UNAVAILABLE', { reason }, { details: { reason, retryAfterSeconds }, cause });
}

export function createOrderPublisher(options: OrderPublisherOptions): OrderPublisher {
  const { js, connection, metrics, logger } = options;
  const b = options.breaker;
  let openedAt = 0;

  const windowMs = options.retryWindowMs;

  /**
   * Publishes, retrying retriable failures with the same msg id (or expectation) until the window
   * has passed.
   */
  async function publishWithRetry(req: PublishRequest, publishTimeoutMs = b.timeoutMs): Promise<PubAck> {
    const deadline = performance.now() + windowMs;
    let backoff = RETRY_BACKOFF_FIRST_MS;
    let attempt = 0;
    for (;;) {
      const left = deadline - performance.now();
      let err: unknown;
      if (connection.connected()) {
        // Later attempts fit in the window, so a request ends by window + one publish timeout.
        const timeoutMs = attempt === 0 ? publishTimeoutMs : Math.min(publishTimeoutMs, Math.max(RETRY_MIN_ATTEMPT_MS, left));
        attempt++;
        // Built by assignment, not by spreading conditional literals: V8 made a new map for that
        // object on every publish (1.5 µs against 0.03 µs, twice per order; issue 14).
        const publishOptions: JsPublishOptions = { headers: req.headers, timeoutMs };
        if (req.msgId !== undefined) publishOptions.msgID = req.msgId;
        if (req.expectLastSubjectSequence !== undefined) publishOptions.expect = { lastSubjectSequence: req.expectLastSubjectSequence };
        try {
          return await js.publish(req.subject, req.data, publishOptions);
        } catch (e) {
          err = e;
        }
      } else {
        err = new DisconnectedError('NATS connection is down');
      }
      const failure = retriableFailure(err, connection.connected());
      const wait = Math.min(backoff, deadline - performance.now() - RETRY_MIN_ATTEMPT_MS);
      if (failure === undefined || wait <= 0) throw err;
      metrics.publishRetries.inc({ reason: failure });
      if (attempt === 1 || failure !== 'disconnected') logger.debug({ err, subject: req.subject, failure, attempt }, 'publish retried');
      await sleep(wait);
      backoff = Math.min(backoff * 2, RETRY_BACKOFF_MAX_MS);
    }
  }

  const breaker = new CircuitBreaker(
    (req: PublishRequest) => publishWithRetry(req),
    {
      name: 'orders-publish',
      // publishWithRetry bounds every attempt by the publish timeout and the loop by the window;
      // an opossum timeout would answer while an attempt is still in flight.
      timeout: false,
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
      // Not assertAvailable(): a connection that is reconnecting gets the retry window to come back.
      if (breaker.opened) throw unavailable('breaker_open', openRetryAfterMs());
      if (windowMs === 0 && !connection.connected()) throw unavailable('disconnected', options.retryAfterMs);
      const started = performance.now();
      try {
        const ack = await breaker.fire(req);
        metrics.publishDuration.observe({ result: 'ok' }, (performance.now() - started) / 1000);
        return ack;
      } catch (err) {
        metrics.publishDuration.observe({ result: 'error' }, (performance.now() - started) / 1000);
        const code = (err as { code?: unknown }).code;
        if (code === OPOSSUM_OPEN) throw unavailable('breaker_open', openRetryAfterMs(), err);
        if (err instanceof natsErrors.TimeoutError) throw unavailable('timeout', options.retryAfterMs, err);
        if (err instanceof DisconnectedError || !connection.connected()) throw unavailable('disconnected', options.retryAfterMs, err);
        logger.error({ err, subject: req.subject }, 'publish to ORDERS failed');
        throw unavailable('publish_error', options.retryAfterMs, err);
      }
    },
    publishRetrying: (req, timeoutMs) => publishWithRetry(req, timeoutMs),
    state: () => state,
    shutdown: () => breaker.shutdown(),
  };
}
