/**
 * The delivery engine of one edge process: one shared pull inbox, one limiter on outstanding
 * pulls, ref-counted doorbells (one per ring subject), a hand-back signal between edges, and a bounded
 * safety sweep. Sessions open a mailbox per connected display. Design and figures:
 * docs/adr/0002-edge-pull-strategy.md.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { EDGE_SUBJECT_PREFIXES } from '@orderwire/platform';
import { EDGE_ERRORS } from '../errors.js';
import { createDoorbell, type Doorbell, type RingObserver } from './doorbell.js';
import { createAcker, type Acker } from './js-message.js';
import { createLimiter, type Limiter } from './limiter.js';
import { MailboxImpl, type Mailbox, type MailboxContext, type MailboxSink, type PullObservation, type WakeReason } from './mailbox.js';
import { createReplyMux, type ReplyMux } from './reply-mux.js';
import { createPuller, DEFAULT_PULL_TIMEOUT_MS, type Puller } from './puller.js';

/** 32 messages per pull (and per socket batch). */
export const DEFAULT_BATCH_MAX = 32;
/** 256 pulls awaiting an answer at once, process-wide. */
export const DEFAULT_MAX_OUTSTANDING_PULLS = 256;
/** 30000 ms between safety pulls of an idle mailbox (jittered ±50 %). */
export const DEFAULT_SWEEP_INTERVAL_MS = 30_000;
/** 500 safety pulls per second at most, process-wide. */
export const DEFAULT_SWEEP_MAX_RATE = 500;
/** 500 ms first retry after a failed pull, doubling. */
export const DEFAULT_RETRY_BASE_MS = 500;
/** 30000 ms longest retry wait. */
export const DEFAULT_RETRY_MAX_MS = 30_000;
/** How often `close()` checks for answers still outstanding. */
const CLOSE_POLL_MS = 10;
/** How often the sweep looks for due mailboxes. */
const SWEEP_TICK_MS = 250;

/** Core subject on which an edge announces that it handed a consumer's messages back. */
export const HANDBACK_SUBJECT_PREFIX = EDGE_SUBJECT_PREFIXES.handback;
export function handbackSubject(consumer: string): string {
  return `${HANDBACK_SUBJECT_PREFIX}.${consumer}`;
}

export interface DeliveryEngineOptions {
  nc: NatsConnection;
  logger: Logger;
  /** @default DEFAULT_BATCH_MAX */
  batchMax?: number;
  /** @default DEFAULT_MAX_OUTSTANDING_PULLS */
  maxOutstandingPulls?: number;
  /** @default DEFAULT_PULL_TIMEOUT_MS */
  pullTimeoutMs?: number;
  /** @default DEFAULT_SWEEP_INTERVAL_MS */
  sweepIntervalMs?: number;
  /** @default DEFAULT_SWEEP_MAX_RATE */
  sweepMaxRate?: number;
  /** @default DEFAULT_RETRY_BASE_MS */
  retryBaseMs?: number;
  /** @default DEFAULT_RETRY_MAX_MS */
  retryMaxMs?: number;
  /** Observes every finished pull (metrics). */
  onPull?: (o: PullObservation) => void;
  /** Observes every doorbell ring received (metrics). */
  onRing?: RingObserver;
  /**
   * Alternative pull transport. The default is the raw single-shot puller; the benchmark
   * plugs in the client library's `fetch()` here to compare (ADR 0002).
   */
  createPuller?: (deps: { nc: NatsConnection; acker: Acker; logger: Logger; timeoutMs: number }) => Puller;
}

export interface OpenMailboxOptions {
  /** The order stream of the consumer (each mailbox pulls from its own display's stream). */
  stream: string;
  consumer: string;
  /** The consumer's filter subjects: its doorbells. */
  filterSubjects: readonly string[];
  /**
   * The consumer's ack_wait. After a NATS reconnect the mailbox also pulls once this has
   * elapsed: acks lost with the connection (or with a restarted server's unflushed state)
   * make messages redeliverable then, with no publish to ring a doorbell.
   */
  ackWaitMs?: number;
  sink: MailboxSink;
}

export interface EngineStats {
  mailboxes: number;
  outstandingPulls: number;
  queuedPulls: number;
  doorbellSubscriptions: number;
  orphanedMessages: number;
}

export interface DeliveryEngine {
  /** Opens a mailbox and pulls once at once. A mailbox already open for the consumer is closed first. */
  open(options: OpenMailboxOptions): Mailbox;
  /** Wakes every mailbox (e.g. after a NATS reconnect), through the limiter. */
  wakeAll(reason: WakeReason): void;
  /** Tells every edge that this consumer's messages were just nak'ed back, so its mailbox pulls now. */
  announceHandback(consumer: string): void;
  /** False between a NATS disconnect and the reconnect. */
  natsConnected(): boolean;
  stats(): EngineStats;
  readonly acker: Acker;
  /** Shared request/reply inbox (receipts use it too). */
  readonly mux: ReplyMux;
  /**
   * Closes every mailbox and stops. Waits up to `timeoutMs` for pulls in flight (their messages
   * are nak'ed back) and for double acks / receipts already sent.
   */
  close(timeoutMs?: number): Promise<void>;
}

export function createDeliveryEngine(options: DeliveryEngineOptions): DeliveryEngine {
  const { nc, logger } = options;
  const mux = createReplyMux(nc, logger);
  const acker = createAcker(nc, mux);
  const pullerDeps = { nc, acker, logger, timeoutMs: options.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS };
  const puller: Puller = (options.createPuller ?? createPuller)(pullerDeps);
  const limiter: Limiter = createLimiter(options.maxOutstandingPulls ?? DEFAULT_MAX_OUTSTANDING_PULLS);
  const doorbell: Doorbell = createDoorbell(nc, logger, options.onRing);
  const mailboxes = new Map<string, MailboxImpl>();
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  const sweepPerTick = Math.max(1, Math.floor(((options.sweepMaxRate ?? DEFAULT_SWEEP_MAX_RATE) * SWEEP_TICK_MS) / 1000));
  let closed = false;
  let natsUp = true;

  const ctx: MailboxContext = {
    batchMax: options.batchMax ?? DEFAULT_BATCH_MAX,
    sweepIntervalMs,
    retryBaseMs: options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
    retryMaxMs: options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
    puller,
    limiter,
    acker,
    logger,
    onPull: options.onPull,
    onClose(m) {
      doorbell.unregister(m, m.filterSubjects);
      if (mailboxes.get(m.consumer) === m) mailboxes.delete(m.consumer);
    },
  };

  const handbackSub: Subscription = nc.subscribe(`${HANDBACK_SUBJECT_PREFIX}.*`, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, 'handback subscription failed');
        return;
      }
      mailboxes.get(msg.subject.slice(HANDBACK_SUBJECT_PREFIX.length + 1))?.wake('handback');
    },
  });

  // Doorbells published while disconnected are lost for good: after a reconnect every
  // mailbox pulls once.
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') natsUp = false;
      if (s.type === 'reconnect') natsUp = true;
      if (s.type === 'reconnect' && !closed) {
        logger.info({ mailboxes: mailboxes.size }, 'nats reconnected; waking every mailbox');
        wakeAll('reconnect');
        for (const m of mailboxes.values()) if (m.ackWaitMs !== undefined) m.wakeAfter(m.ackWaitMs);
      }
    }
  })().catch((err: unknown) => logger.error({ err }, 'engine status watcher failed'));

  function wakeAll(reason: WakeReason): void {
    for (const m of mailboxes.values()) m.wake(reason);
  }

  const sweepTimer = setInterval(() => {
    const now = Date.now();
    let budget = sweepPerTick;
    for (const m of mailboxes.values()) {
      if (budget === 0) break;
      if (m.state === 'idle' && m.nextSweepAt <= now) {
        budget--;
        m.wake('sweep');
      }
    }
  }, SWEEP_TICK_MS);
  sweepTimer.unref();

  const engine: DeliveryEngine = {
    open({ stream, consumer, filterSubjects, sink, ackWaitMs }) {
      if (closed) throw EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_ENGINE_CLOSED');
      mailboxes.get(consumer)?.close();
      const m = new MailboxImpl(stream, consumer, [...filterSubjects], sink, ctx, ackWaitMs);
      mailboxes.set(consumer, m);
      doorbell.register(m, m.filterSubjects);
      m.wake('connect');
      return m;
    },
    wakeAll,
    announceHandback(consumer) {
      if (nc.isClosed()) return;
      nc.publish(handbackSubject(consumer));
    },
    natsConnected: () => natsUp && !nc.isClosed(),
    stats() {
      return {
        mailboxes: mailboxes.size,
        outstandingPulls: puller.outstanding,
        queuedPulls: limiter.queued,
        doorbellSubscriptions: doorbell.subscriptions,
        orphanedMessages: puller.orphans,
      };
    },
    acker,
    mux,
    async close(timeoutMs) {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      for (const m of [...mailboxes.values()]) m.close();
      doorbell.close();
      if (!nc.isClosed()) handbackSub.unsubscribe();
      const deadline = Date.now() + (timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS);
      await puller.close(timeoutMs);
      // Double acks and receipts already sent get their answers before the inbox goes.
      while (mux.pending > 0 && Date.now() < deadline && !nc.isClosed()) await new Promise((r) => setTimeout(r, CLOSE_POLL_MS));
      mux.close();
    },
  };
  return engine;
}
