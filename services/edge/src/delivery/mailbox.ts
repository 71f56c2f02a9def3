/**
 * The in-memory mailbox of one connected display: a small state machine in front of the
 * display's durable consumer.
 *
 *   idle ──wake──▶ queued ──slot──▶ pulling ──messages──▶ delivering ──settled──▶ idle
 *                                      └──────empty──────▶ idle
 *
 * A mailbox holds at most one pull and one batch at the display at a time, so the display
 * sees batches in stream order and a slow display costs nothing but its own wait. Wake-ups
 * that arrive while busy are remembered (`wanted`) and answered by one follow-up pull.
 * After a batch settles it pulls again at once if the pull filled its batch or the server
 * reported more pending; otherwise it waits for the next doorbell, timer or sweep.
 *
 * A pull asks for as many messages as the mailbox knows are there: one per doorbell rung since
 * the last pull (a ring is one stored message on the consumer's subjects), or the backlog the
 * last message reported, whichever is larger. A pull that gets exactly what it asked for ends
 * without a status reply, and the server does not walk the stream once more looking for a
 * message that is not there — the 404/408 that ended every one-message pull of `batchMax`.
 * Wake-ups that say nothing about the count (connect, hand-back, timers, sweep, reconnect) ask
 * for `batchMax`. Asking for too few costs a follow-up pull (the last message reports what is
 * left); too many, the status reply.
 *
 * Every pull is `no_wait`: it never parks a waiting request on the server. Measured on
 * nats-server 2.10 (ADR 0002), a publish to a consumer with a waiting pull request is 40–70×
 * slower than to one without, so parked requests (what `consume()` keeps on every consumer)
 * turn a burst into a crawl. The price is the doorbell race: the ring is routed before the
 * stream has stored its message, so a pull right after a ring can find nothing yet. A ring
 * that a pull did not satisfy is therefore retried a few times on a short ladder
 * (`RACE_RETRY_MS`), still without waiting on the server.
 */
import type { Logger } from 'pino';
import type { Limiter, SlotWaiter } from './limiter.js';
import type { Acker, PulledMessage } from './js-message.js';
import type { PullResult, Puller } from './puller.js';
import type { Ringable } from './doorbell.js';

export type MailboxState = 'idle' | 'queued' | 'pulling' | 'delivering' | 'closed';

export type WakeReason =
  /** First pull when the display connects. */
  | 'connect'
  /** An order was published on one of the consumer's subjects. */
  | 'doorbell'
  /** Another session handed this consumer's messages back (nak). */
  | 'handback'
  /** A batch filled, more is pending, or a ring arrived meanwhile. */
  | 'followup'
  /** A ring's message was not stored yet when pulled: try again shortly. */
  | 'race'
  /** A nak delay or ack_wait elapsed: messages become deliverable with no publish. */
  | 'timer'
  /** The slow safety pull: doorbells are at-most-once. */
  | 'sweep'
  /** NATS reconnected: doorbells may have been missed. */
  | 'reconnect'
  /** A pull failed and is retried with backoff. */
  | 'retry';

export interface MailboxSink {
  /** Hands pulled messages to the display; resolves once every one is settled (acked, nak'ed or terminated). */
  deliver(messages: PulledMessage[]): Promise<void>;
  /** The pull said the consumer is gone (or JetStream is unavailable); the session decides. */
  consumerMissing(result: PullResult): void;
  /**
   * A complete pull found no message. `ringUnanswered`: a doorbell announced a message on one of
   * the consumer's subjects that the pull did not find (stored a moment later — or in another
   * stream, after a repartition moved the display's vp).
   */
  empty?(ringUnanswered: boolean): void;
}

export interface PullObservation {
  consumer: string;
  status: PullResult['status'];
  /** Server status that ended the pull (404, 408, 409, 503), if any. */
  code?: number;
  description?: string;
  reason: WakeReason;
  messages: number;
  ms: number;
}

/** What the engine provides to every mailbox. */
export interface MailboxContext {
  batchMax: number;
  sweepIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** @default RACE_RETRY_MS */
  raceRetryMs?: readonly number[];
  puller: Puller;
  limiter: Limiter;
  acker: Acker;
  logger: Logger;
  onPull?: (o: PullObservation) => void;
  onClose(m: MailboxImpl): void;
}

export interface Mailbox {
  readonly consumer: string;
  readonly state: MailboxState;
  /** Messages left on the consumer after the last pull (0 once a pull drained it). */
  readonly backlog: number;
  wake(reason: WakeReason): void;
  /**
   * Wakes the mailbox after `ms` (a nak delay or ack_wait elapsing). `due`: a message is known to
   * come back then, so a pull that finds nothing yet (the server requeues it a little later on a
   * loaded box) is retried on the race ladder like an unanswered ring, not left to the sweep.
   */
  wakeAfter(ms: number, due?: boolean): void;
  /** Stops pulling at once. Messages of a pull still in flight are nak'ed back when they arrive. */
  close(): void;
}

/**
 * Re-pull delays after a ring whose message a pull did not find. Stores take well under a
 * millisecond on an idle server, but a saturated one falls seconds behind the doorbells
 * (measured in ADR 0002), so the ladder reaches out ~30 s before the sweep is left alone.
 * Each step is a `no_wait` pull; a ring for a message never stored (a duplicate publish)
 * costs nine empty pulls.
 */
export const RACE_RETRY_MS: readonly number[] = [2, 10, 50, 250, 1_000, 2_500, 5_000, 10_000, 15_000];
/** Two timers this close together are one wake-up. */
const TIMER_COALESCE_MS = 100;
/** Extra wait after a nak delay or ack_wait so the server has requeued the message. */
const TIMER_MARGIN_MS = 50;

export class MailboxImpl implements Mailbox, SlotWaiter, Ringable {
  state: MailboxState = 'idle';
  backlog = 0;
  /** Epoch ms when the sweep may pull this mailbox next. */
  nextSweepAt: number;
  /** A wake arrived while pulling or delivering: pull again afterwards. */
  private wanted = false;
  /** A ring (or hand-back) announced a message no pull has found yet. */
  private ringOwed = false;
  private raceRetries = 0;
  /** Doorbells rung since the last pull started: messages stored for this consumer since then. */
  private rings = 0;
  /** A wake-up that does not say how many messages wait (connect, hand-back, timer, …): pull `batchMax`. */
  private countUnknown = true;
  private raceTimer: NodeJS.Timeout | undefined;
  private queuedReason: WakeReason = 'connect';
  private failures = 0;
  /** Pending `wakeAfter` timers; created while there are any (an edge holds thousands of idle mailboxes). */
  private timers: Map<NodeJS.Timeout, { at: number; due: boolean }> | undefined;

  constructor(
    /** The order stream of the consumer: a partition stream, or the one a retiring mailbox drains. */
    readonly stream: string,
    readonly consumer: string,
    readonly filterSubjects: readonly string[],
    private readonly sink: MailboxSink,
    private readonly ctx: MailboxContext,
    readonly ackWaitMs?: number,
  ) {
    this.nextSweepAt = Date.now() + this.sweepDelay();
  }

  ring(): void {
    this.wake('doorbell');
  }

  wake(reason: WakeReason): void {
    if (this.state === 'closed') return;
    if (reason === 'doorbell' || reason === 'handback') {
      this.ringOwed = true;
      this.raceRetries = 0;
    }
    if (reason === 'doorbell') this.rings++;
    else if (reason !== 'followup' && reason !== 'race') this.countUnknown = true;
    if (this.state === 'idle') this.enqueue(reason);
    else if (this.state === 'pulling' || this.state === 'delivering') this.wanted = true;
  }

  wakeAfter(ms: number, due = false): void {
    if (this.state === 'closed') return;
    const at = Date.now() + ms + TIMER_MARGIN_MS;
    for (const other of this.timers?.values() ?? []) {
      if (Math.abs(other.at - at) < TIMER_COALESCE_MS) {
        other.due ||= due;
        return;
      }
    }
    const entry = { at, due };
    const timer = setTimeout(() => {
      this.timers?.delete(timer);
      if (this.timers?.size === 0) this.timers = undefined;
      // Without this, a pull that came before the server requeued the nak'ed message left it to
      // the sweep (15–45 s): a display's retries of a refused order stalled under load.
      if (entry.due) {
        this.ringOwed = true;
        this.raceRetries = 0;
      }
      this.wake('timer');
    }, ms + TIMER_MARGIN_MS);
    (this.timers ??= new Map()).set(timer, entry);
  }

  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'queued') this.ctx.limiter.cancel(this);
    this.state = 'closed';
    for (const t of this.timers?.keys() ?? []) clearTimeout(t);
    this.timers = undefined;
    clearTimeout(this.raceTimer);
    this.ctx.onClose(this);
  }

  private enqueue(reason: WakeReason): void {
    this.state = 'queued';
    this.queuedReason = reason;
    this.ctx.limiter.acquire(this);
  }

  onSlot(): void {
    if (this.state !== 'queued') {
      this.ctx.limiter.release();
      return;
    }
    this.state = 'pulling';
    this.wanted = false;
    // This pull answers every ring so far; rings from now on are owed again.
    const owedAtStart = this.ringOwed;
    this.ringOwed = false;
    clearTimeout(this.raceTimer);
    this.raceTimer = undefined;
    const reason = this.queuedReason;
    const batch = this.batchSize();
    this.rings = 0;
    this.countUnknown = false;
    const started = performance.now();
    this.ctx.puller
      .pull({ stream: this.stream, consumer: this.consumer, batch })
      .then((result) => {
        this.ctx.limiter.release();
        this.ctx.onPull?.({
          consumer: this.consumer,
          status: result.status,
          code: result.code,
          description: result.description,
          reason,
          messages: result.messages.length,
          ms: performance.now() - started,
        });
        this.onPulled(result, owedAtStart);
      })
      .catch((err: unknown) => {
        // pull() never rejects; this guards a bug in onPulled from wedging the mailbox.
        this.ctx.logger.error({ err, consumer: this.consumer }, 'mailbox pull handling failed');
        if (this.state === 'pulling') this.state = 'idle';
      });
  }

  private onPulled(result: PullResult, owedAtStart: boolean): void {
    const { messages } = result;
    if (this.state === 'closed') {
      for (const m of messages) this.ctx.acker.nak(m);
      return;
    }
    this.nextSweepAt = Date.now() + this.sweepDelay();
    const last = messages[messages.length - 1];
    this.backlog = last === undefined ? 0 : last.info.pending;

    if (result.status === 'consumer_missing') {
      this.state = 'idle';
      for (const m of messages) this.ctx.acker.nak(m);
      this.sink.consumerMissing(result);
      return;
    }
    if (result.status === 'complete') this.failures = 0;
    else this.retryLater(result);

    if (messages.length === 0) {
      this.state = 'idle';
      if (this.wanted) {
        this.enqueue('followup');
        return;
      }
      // A ring announced a message this pull did not find: stored too late for it.
      const ringUnanswered = owedAtStart || this.ringOwed;
      if (ringUnanswered && result.status === 'complete') this.raceRetry();
      if (result.status === 'complete') this.sink.empty?.(ringUnanswered);
      return;
    }
    this.raceRetries = 0;
    this.state = 'delivering';
    const full = messages.length >= this.ctx.batchMax;
    this.sink
      .deliver(messages)
      .catch((err: unknown) => this.ctx.logger.error({ err, consumer: this.consumer }, 'mailbox delivery failed'))
      .finally(() => {
        if (this.state !== 'delivering') return;
        this.state = 'idle';
        if (full || this.backlog > 0 || this.wanted) this.enqueue('followup');
      });
  }

  /** See the header: what the mailbox knows is waiting, at least 1, at most `batchMax`. */
  private batchSize(): number {
    if (this.countUnknown) return this.ctx.batchMax;
    return Math.min(this.ctx.batchMax, Math.max(1, this.rings, this.backlog));
  }

  private raceRetry(): void {
    const delay = (this.ctx.raceRetryMs ?? RACE_RETRY_MS)[this.raceRetries];
    if (delay === undefined) {
      this.raceRetries = 0; // the sweep takes over
      return;
    }
    this.raceRetries++;
    this.ringOwed = true;
    this.raceTimer = setTimeout(() => {
      this.raceTimer = undefined;
      if (this.state === 'idle') this.enqueue('race');
    }, delay);
  }

  private retryLater(result: PullResult): void {
    this.failures++;
    const ms = Math.min(this.ctx.retryMaxMs, this.ctx.retryBaseMs * 2 ** Math.min(this.failures - 1, 16));
    // Debug only: during a NATS outage every mailbox lands here; the pulls metric counts them.
    this.ctx.logger.debug(
      { consumer: this.consumer, status: result.status, code: result.code, description: result.description, retryInMs: ms },
      'pull failed; retrying',
    );
    this.wakeAfter(ms);
  }

  private sweepDelay(): number {
    // Jittered over [0.5, 1.5) × interval so sweeps of mailboxes opened together spread out.
    return this.ctx.sweepIntervalMs * (0.5 + Math.random());
  }
}
