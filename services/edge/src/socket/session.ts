/**
 * One connected display: its mailbox, the batches it has been sent, its acks, its token.
 *
 * Message lifecycle on this node: pulled → held → emitted in an `orders` batch → answered:
 *   ack      → JetStream ack confirmed by the server (double ack) → receipt
 *   reject   → nak with a growing delay; the mailbox wakes when it elapses
 *   timeout  → same as reject while the display is still connected
 *   after EDGE_MAX_FAILURES rejections/timeouts in this session → term (advisory → DLQ)
 * When the socket goes away every held message is nak'ed without delay (it goes back to the
 * display's consumer, not towards the DLQ), and the other edges are told so a new session of
 * the display elsewhere pulls at once. Failure counts live only as long as the session: a
 * display that drops off Wi-Fi and comes back never accumulates its way into the DLQ.
 */
import { HEADERS, parseLegacyOrderSubject, parseOrderSubject, validateOrderEnvelope, type AuthRefreshResult, type Delivery, type DisconnectReason } from '@orderwire/contracts';
import { LEGACY_ORDERS_STREAM } from '@orderwire/platform';
import { isTokenError, type TokenVerifier } from '@orderwire/token-verifier';
import type { Logger } from 'pino';
import type { DeliveryEngine } from '../delivery/engine.js';
import type { AckHandle, PulledHeaders, PulledMessage } from '../delivery/js-message.js';
import type { Mailbox, MailboxSink } from '../delivery/mailbox.js';
import type { PullResult } from '../delivery/puller.js';
import type { ReceiptWriter } from '../delivery/receipt-writer.js';
import type { EdgeMetrics, ForeignField } from '../metrics.js';
import type { ExpirySchedule } from './expiry.js';
import type { TokenBucket } from './rate-limit.js';
import { ackedIds, rejectReason } from './answer.js';
import { sessionClaims, type EdgeSocket } from './types.js';
/** Rough per-delivery JSON overhead beyond the order itself, for the batch byte bound. */
const DELIVERY_OVERHEAD_BYTES = 160;
/** Retry after a pull said "consumer missing" but the consumer is there (JetStream hiccup). */
const CONSUMER_RECHECK_MS = 1_000;
/** Failure counts kept per session at most (distinct messages). */
const MAX_TRACKED_FAILURES = 10_000;
/** JetStream term reason of a message whose subject is not the session's (prefix; `:<field>` follows). */
export const FOREIGN_TERM_REASON = 'foreign_subject';
/** One decoder for every message: `decode()` without `stream` keeps no state between calls. */
const UTF8 = new TextDecoder();

export interface SessionSettings {
  ackTimeoutMs: number;
  batchMax: number;
  batchMaxBytes: number;
  maxFailures: number;
  nakDelayMs: number;
  nakDelayMaxMs: number;
  jsAckTimeoutMs: number;
}

export interface SessionContext {
  engine: DeliveryEngine;
  receipts: ReceiptWriter;
  verifier: TokenVerifier;
  metrics: EdgeMetrics;
  settings: SessionSettings;
  /** The node's token expiry timer: the session is due at its token's `exp` (`expire()`). */
  expiry: ExpirySchedule<DisplaySession>;
  /** True when this token family was announced revoked. */
  isRevokedFamily(familyId: string): boolean;
  /** Whether the display's consumer exists ('unknown' when JetStream cannot tell now). */
  consumerExists(stream: string, name: string): Promise<'present' | 'missing' | 'unknown'>;
  /** Messages a consumer still owes (pending + in flight; 0 when it is gone, undefined when JetStream cannot tell now). */
  consumerOwes(stream: string, name: string): Promise<number | undefined>;
  /** The stream a repartition is retiring this consumer to, if it is. */
  consumerRetiringTo(stream: string, name: string): Promise<string | undefined>;
  /** Called once when the session is closed. */
  onClosed(session: DisplaySession): void;
  /** A refused in-band `auth:refresh` (bad, expired, foreign or revoked token): audited, aggregated. */
  onRefreshRefused?(socket: EdgeSocket, reason: DisconnectReason, code: string | undefined): void;
}

/** At most one "is my mailbox retiring?" check per session in this time (ms), when a ring found nothing. */
const RETIRING_CHECK_MS = 1_000;

/**
 * A message held for the display until it is answered. It keeps what the answer needs — the ack
 * subject and delivery metadata — and the order only until the batch carrying it is encoded, not
 * the pulled message: its decoded NATS headers (a Map of arrays per message), its payload (a view
 * that keeps the whole NATS read buffer alive) and the parsed envelope. A held message lives for
 * the display's round trip plus the double ack and the receipt; under load that outlives two
 * scavenges, so whatever it references is promoted to the old generation and lingers there, as
 * garbage, until the next major GC (measured: the edge's RSS peak under delivery load is that
 * garbage, not live sessions — see services/edge/README.md, "Memory").
 */
interface Held {
  msg: AckHandle;
  /**
   * The wire delivery itself (emitted as it is, no copy per emit); its `order` only until the
   * batch carrying it was emitted (encoded), then released.
   */
  delivery: Delivery;
  traceId: string | undefined;
  bytes: number;
  /** Set in the tick the display's answer acked it (see `Answer`). */
  claimed: boolean;
}

/**
 * The acked deliveries are taken out of `held` (and marked `claimed`) in the tick the answer
 * arrived — so a disconnect read in the same tick (the display acks, then closes) cannot hand
 * them back. `reply`: the display's answer, read again only for the reasons of rejections.
 */
type Answer =
  | { kind: 'answer'; reply: unknown; at: number }
  | { kind: 'timeout' }
  | { kind: 'closed' };

/** No messages held: what `held` reads as before the first delivery. */
const NOTHING_HELD: ReadonlyMap<number, Held> = new Map();

/**
 * Memory: an edge holds thousands of these, mostly idle, so a session creates per-session objects
 * only when it needs them — its child logger per log line (pino's child with its bindings string
 * was ~500 bytes per session), `held` at the first delivery, `failures` and `openEmits` while they
 * have entries, the socket's message budgets (server.ts) at the first message — and its token
 * expiry is an entry in the node's one schedule, not a Timeout of its own (bench/session-memory.mjs
 * measures what a connected display costs; services/edge/README.md, "Memory").
 */
export class DisplaySession implements MailboxSink {
  readonly tenant: string;
  readonly displayId: string;
  /** Epoch ms when the display connected. */
  readonly startedAt = Date.now();
  /** The socket's message budgets and whether it went over one (server.ts); created on first use. */
  messageBudget: TokenBucket | undefined;
  refreshBudget: TokenBucket | undefined;
  limited = false;
  private mailbox: Mailbox | undefined;
  private closed = false;
  /** The `exp` (epoch s) the session is scheduled to expire at, while it is. */
  private expiresAtSec: number | undefined;
  /** Messages pulled for this display and not yet acked, failed or handed back, by stream seq. */
  private heldBySeq: Map<number, Held> | undefined;
  private retiringCheckedAt = 0;
  private failures: Map<number, number> | undefined;
  /** Settles each `orders` emit still awaiting its answer when the session closes (usually one: a Set only for more). */
  private openEmits: (() => void) | Set<() => void> | undefined;

  constructor(
    private readonly socket: EdgeSocket,
    private readonly ctx: SessionContext,
    private readonly logger: Logger,
  ) {
    const { claims } = socket.data;
    this.tenant = claims.tid;
    this.displayId = claims.sub;
  }

  /**
   * The session's logger (display, tenant and socket bound), built per use: sessions log rarely
   * (start, end, failures), and a child kept per session cost more than any other part of it.
   */
  get log(): Logger {
    return this.logger.child({ displayId: this.displayId, tenant: this.tenant, socketId: this.socket.id });
  }

  private get held(): ReadonlyMap<number, Held> {
    return this.heldBySeq ?? NOTHING_HELD;
  }

  get consumer(): string {
    return this.socket.data.binding.name;
  }

  /**
   * The store of the current token: an in-band refresh after the display was moved to another
   * store (auth's registry) brings the new one.
   */
  get storeId(): string {
    return this.socket.data.claims.sid;
  }

  /** The display's identity among sessions (its mailbox name, also while bound to a legacy name). */
  get displayKey(): string {
    return this.socket.data.binding.key;
  }

  get socketId(): string {
    return this.socket.id;
  }

  get familyId(): string {
    return this.socket.data.claims.fam;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Messages left on the consumer after the last pull. */
  get backlog(): number {
    return this.mailbox?.backlog ?? 0;
  }

  /** Stream timestamp (epoch ms) of the oldest message held for this display, if any. */
  oldestHeldStoredAt(): number | undefined {
    let oldest: number | undefined;
    for (const h of this.held.values()) if (oldest === undefined || h.msg.info.storedAt < oldest) oldest = h.msg.info.storedAt;
    return oldest;
  }

  start(): void {
    const { binding } = this.socket.data;
    this.armExpiry();
    this.mailbox = this.ctx.engine.open({
      stream: binding.stream,
      consumer: binding.name,
      // A retiring mailbox gets no new messages (its vps moved): no doorbells, its backlog is
      // pulled by the connect pull and its follow-ups.
      filterSubjects: binding.retiringTo === undefined ? binding.filterSubjects : [],
      ackWaitMs: binding.ackWaitMs,
      sink: this,
    });
    // Messages another (possibly dead) session holds come back after ack_wait at the latest,
    // with no publish to ring a doorbell.
    if (binding.ackPendingAtConnect > 0) this.mailbox.wakeAfter(binding.ackWaitMs, true);
    this.log.info(
      { consumer: binding.name, stream: binding.stream, retiringTo: binding.retiringTo, ackPendingAtConnect: binding.ackPendingAtConnect },
      'display session started',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Delivery (MailboxSink)

  deliver(messages: PulledMessage[]): Promise<void> {
    // Not async on purpose: an async function keeps its arguments for as long as it is
    // suspended, and the pulled messages must not outlive their conversion (see `Held`).
    const ready: Held[] = [];
    for (const msg of messages) {
      const held = this.toHeld(msg);
      if (held !== undefined) ready.push(held);
    }
    if (ready.length > 0) {
      const held = (this.heldBySeq ??= new Map());
      for (const h of ready) held.set(h.msg.info.streamSeq, h);
    }
    return this.deliverHeld(ready);
  }

  private async deliverHeld(ready: Held[]): Promise<void> {
    for (const batch of this.batches(ready)) {
      if (this.closed) return; // close() handed the rest back
      await this.emitBatch(batch);
    }
    // A retiring mailbox has no doorbells: pull again, and the empty pull that ends its backlog
    // moves the display to the twin.
    if (this.socket.data.binding.retiringTo !== undefined) this.mailbox?.wake('followup');
  }

  consumerMissing(result: PullResult): void {
    const { binding } = this.socket.data;
    this.ctx
      .consumerExists(binding.stream, this.consumer)
      .then((state) => {
        if (this.closed) return;
        if (state === 'missing' && binding.retiringTo !== undefined) {
          // The repartition retired the old mailbox: reconnect, and the handshake binds its twin.
          this.log.info({ consumer: this.consumer, from: binding.stream, to: binding.retiringTo }, 'retiring mailbox gone; asking the display to reconnect');
          this.end('server_shutdown', true, 'mailbox moved; reconnect');
        } else if (state === 'missing') {
          this.log.warn({ code: result.code, description: result.description }, 'display consumer is gone');
          this.end('display_decommissioned', false);
        } else {
          this.log.warn({ state, code: result.code, description: result.description }, 'pull found no consumer; rechecking');
          this.mailbox?.wakeAfter(CONSUMER_RECHECK_MS);
        }
      })
      .catch((err: unknown) => this.log.error({ err }, 'consumer check failed'));
  }

  /**
   * Which part of the subject is not this session's, if any. The consumer's filters should make
   * this impossible; it is checked anyway because a mailbox is only as safe as the name and
   * filters someone with JetStream access gave it (issue 12: one tenant rewrote another's).
   */
  /**
   * A pull found nothing. On a retiring mailbox (a repartition moved the display's vp) that may
   * mean it is drained: once the server says it owes nothing and nothing is held here, the session
   * ends with a reconnect and the handshake binds the twin on the new stream.
   */
  empty(ringUnanswered: boolean): void {
    const { binding } = this.socket.data;
    if (this.closed) return;
    if (binding.retiringTo === undefined) {
      // A session bound before the repartition learns of it from the first order of its store
      // after the move: the ring comes (B republishes the same subjects), the pull here finds
      // nothing. Checked at most once per RETIRING_CHECK_MS, so the doorbell race costs little.
      if (!ringUnanswered || Date.now() - this.retiringCheckedAt < RETIRING_CHECK_MS) return;
      this.retiringCheckedAt = Date.now();
      this.ctx
        .consumerRetiringTo(binding.stream, this.consumer)
        .then((to) => {
          if (to === undefined || this.closed) return;
          binding.retiringTo = to;
          this.log.info({ consumer: this.consumer, from: binding.stream, to }, 'mailbox is retiring (repartition); draining it first');
          this.empty(false);
        })
        .catch((err: unknown) => this.log.error({ err }, 'retiring mailbox check failed'));
      return;
    }
    if (this.held.size > 0) return;
    this.ctx
      .consumerOwes(binding.stream, this.consumer)
      .then((owes) => {
        if (this.closed || owes !== 0 || this.held.size > 0) return;
        this.log.info({ consumer: this.consumer, from: binding.stream, to: binding.retiringTo }, 'retiring mailbox drained; asking the display to reconnect');
        this.end('server_shutdown', true, 'mailbox moved; reconnect');
      })
      .catch((err: unknown) => this.log.error({ err }, 'retiring mailbox check failed'));
  }

  private foreignField(subject: string): ForeignField | undefined {
    // The legacy stream (retiring after the first repartition) holds the pre-partition layout.
    const p = this.socket.data.binding.stream === LEGACY_ORDERS_STREAM ? parseLegacyOrderSubject(subject) : parseOrderSubject(subject);
    if (p === undefined) return 'subject';
    if (p.tenant !== this.tenant) return 'tenant';
    if (p.store !== this.storeId) return 'store';
    if (p.kind === 'display' && p.displayId !== this.displayId) return 'display';
    return undefined;
  }

  private toHeld(msg: PulledMessage): Held | undefined {
    const deliveryId = `${msg.info.stream}:${msg.info.streamSeq}`;
    const { headers } = msg;
    const traceId = headerValue(headers, HEADERS.traceId) || undefined;
    const foreign = this.foreignField(msg.subject);
    if (foreign !== undefined) {
      // Never shown, never handed back to this mailbox: terminated, which the DLQ will not file
      // under this display either (its subject is not the display's tenant's).
      this.log.error({ deliveryId, traceId, subject: msg.subject, field: foreign, consumer: this.consumer }, 'foreign message in mailbox; terminating');
      this.ctx.engine.acker.term(msg, `${FOREIGN_TERM_REASON}:${foreign}`);
      this.ctx.metrics.foreignMessages.inc({ field: foreign });
      return undefined;
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(UTF8.decode(msg.data));
    } catch {
      envelope = undefined;
    }
    const checked = validateOrderEnvelope(envelope);
    if (!checked.ok) {
      // No display can ever process it: straight to the DLQ rather than 50 redeliveries.
      this.log.error({ deliveryId, traceId, subject: msg.subject, errors: checked.errors.slice(0, 3) }, 'invalid order envelope; terminating');
      this.ctx.engine.acker.term(msg, 'invalid_envelope');
      this.ctx.metrics.deliveries.inc({ outcome: 'terminated' });
      return undefined;
    }
    const env = checked.value;
    const headerAcceptedAt = Number(headerValue(headers, HEADERS.acceptedAt));
    const { streamSeq: seq, deliveryCount } = msg.info;
    const orderId = env.order.orderId;
    const acceptedAt = Number.isFinite(headerAcceptedAt) && headerAcceptedAt > 0 ? headerAcceptedAt : env.acceptedAt;
    const order: unknown = env.order;
    // Two literals rather than a property added later: the wire keeps its key order and every
    // delivery object its one shape.
    const delivery: Delivery =
      headers !== undefined && headers.has(HEADERS.replayOf)
        ? { deliveryId, orderId, seq, deliveryCount, acceptedAt, replay: true, order }
        : { deliveryId, orderId, seq, deliveryCount, acceptedAt, order };
    return {
      msg: { reply: msg.reply, info: msg.info },
      delivery,
      traceId: traceId ?? env.traceId,
      bytes: msg.data.length + DELIVERY_OVERHEAD_BYTES,
      claimed: false,
    };
  }

  /** Splits into batches bounded by count and bytes; a single oversized delivery goes alone. */
  private *batches(items: Held[]): Generator<Held[]> {
    const { batchMax, batchMaxBytes } = this.ctx.settings;
    let batch: Held[] = [];
    let bytes = 0;
    for (const h of items) {
      if (batch.length > 0 && (batch.length >= batchMax || bytes + h.bytes > batchMaxBytes)) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(h);
      bytes += h.bytes;
    }
    if (batch.length > 0) yield batch;
  }

  private async emitBatch(batch: Held[]): Promise<void> {
    const { metrics, settings } = this.ctx;
    const wire: Delivery[] = [];
    for (const h of batch) {
      if (h.delivery.deliveryCount > 1) metrics.deliveries.inc({ outcome: 'redelivered' });
      wire.push(h.delivery);
    }
    const emittedAt = performance.now();
    const answer = await new Promise<Answer>((resolve) => {
      let settled = false;
      const settle = (a: Answer): void => {
        if (settled) return; // the ack callback, its timeout and close() may all race
        settled = true;
        this.removeOpenEmit(onClose);
        resolve(a);
      };
      const onClose = (): void => settle({ kind: 'closed' });
      this.addOpenEmit(onClose);
      this.socket.timeout(settings.ackTimeoutMs).emit('orders', wire, (err: Error | null, reply: unknown) => {
        if (settled) return;
        if (err) return settle({ kind: 'timeout' });
        const at = performance.now();
        const acked = ackedIds(reply);
        for (const h of batch) {
          const seq = h.msg.info.streamSeq;
          if (!acked.has(h.delivery.deliveryId) || this.held.get(seq) !== h) continue;
          this.release(seq);
          h.claimed = true;
        }
        settle({ kind: 'answer', reply, at });
      });
      // Encoded by now (Socket.IO encodes in emit): the order is on the wire and a held message
      // no longer needs it — a timeout or reject is redelivered from JetStream, never re-emitted.
      for (const h of batch) h.delivery.order = undefined;
    });
    if (answer.kind === 'closed') return;
    if (answer.kind === 'timeout') {
      this.log.warn({ count: batch.length, timeoutMs: settings.ackTimeoutMs }, 'display did not answer orders in time');
      for (const h of batch) this.fail(h, 'timed_out', 'ack_timeout');
      return;
    }
    metrics.ackLatency.observe((answer.at - emittedAt) / 1000);
    // One delivery (the usual batch at a steady rate): no array of promises to wait on.
    if (batch.length === 1) {
      const h = batch[0]!;
      if (h.claimed) await this.acknowledge(h);
      else this.fail(h, 'rejected', rejectReason(answer.reply, h.delivery.deliveryId));
      return;
    }
    const confirming: Promise<void>[] = [];
    for (const h of batch) {
      if (h.claimed) confirming.push(this.acknowledge(h));
      else this.fail(h, 'rejected', rejectReason(answer.reply, h.delivery.deliveryId));
    }
    await Promise.all(confirming);
  }

  /** Confirms a delivery the display acked; the caller already took it out of `held`. */
  private async acknowledge(h: Held): Promise<void> {
    const seq = h.msg.info.streamSeq;
    this.forgetFailures(seq);
    const { metrics, settings, engine } = this.ctx;
    try {
      await engine.acker.ackAck(h.msg, settings.jsAckTimeoutMs);
    } catch (err) {
      // Not confirmed: JetStream redelivers after ack_wait and the SDK drops the duplicate.
      metrics.deliveries.inc({ outcome: 'ack_failed' });
      this.deliveryLog(h).warn({ err }, 'ack not confirmed by JetStream; it will be redelivered');
      return;
    }
    metrics.deliveries.inc({ outcome: 'acked' });
    const e2eMs = Math.max(0, Date.now() - h.delivery.acceptedAt);
    metrics.e2eLatency.observe(e2eMs / 1000);
    // Debug level: one line per delivered order would dominate info logs at 500 orders/s. The
    // level check comes first because building the child logger is most of the cost of the call.
    if (this.logger.isLevelEnabled('debug')) this.deliveryLog(h).debug({ e2eMs, deliveryCount: h.delivery.deliveryCount }, 'order delivered');
    try {
      await this.ctx.receipts.delivered({
        tenant: this.tenant,
        orderId: h.delivery.orderId,
        displayId: this.displayId,
        stream: h.msg.info.stream,
        seq,
        deliveryCount: h.delivery.deliveryCount,
      });
    } catch (err) {
      metrics.receiptFailures.inc();
      this.deliveryLog(h).warn({ err }, 'delivery receipt not written');
    }
  }

  private fail(h: Held, outcome: 'rejected' | 'timed_out', reason: string): void {
    const seq = h.msg.info.streamSeq;
    if (this.held.get(seq) !== h) return;
    this.release(seq);
    const { metrics, settings, engine } = this.ctx;
    const n = (this.failures?.get(seq) ?? 0) + 1;
    metrics.deliveries.inc({ outcome });
    if (n >= settings.maxFailures) {
      this.forgetFailures(seq);
      engine.acker.term(h.msg, `${outcome}:${reason}`.slice(0, 200));
      metrics.deliveries.inc({ outcome: 'terminated' });
      this.deliveryLog(h).error({ failures: n, reason }, 'display kept failing this order; terminated (dead-lettered)');
      return;
    }
    const failures = (this.failures ??= new Map());
    if (failures.size >= MAX_TRACKED_FAILURES) failures.delete(failures.keys().next().value as number);
    failures.set(seq, n);
    const delay = Math.min(settings.nakDelayMaxMs, settings.nakDelayMs * 2 ** (n - 1));
    engine.acker.nak(h.msg, delay);
    this.mailbox?.wakeAfter(delay, true);
    this.deliveryLog(h).warn({ failures: n, reason, outcome, redeliverInMs: delay }, 'delivery not acked; nak with delay');
  }

  /**
   * Takes a message out of `held`, and drops the map once empty (as `failures` is dropped). A map
   * that lives as long as the session and goes from one entry to none on each delivery gets new
   * hash tables each time, which stay referenced until the display's next order — seconds at
   * 10,000 displays — so every one was promoted to the old generation (docs/benchmarks.md, round 9).
   */
  private release(seq: number): void {
    const held = this.heldBySeq;
    if (held !== undefined && held.delete(seq) && held.size === 0) this.heldBySeq = undefined;
  }

  private addOpenEmit(settle: () => void): void {
    const open = this.openEmits;
    if (open === undefined) this.openEmits = settle;
    else if (open instanceof Set) open.add(settle);
    else this.openEmits = new Set([open, settle]);
  }

  private removeOpenEmit(settle: () => void): void {
    const open = this.openEmits;
    if (open === settle) this.openEmits = undefined;
    else if (open instanceof Set && open.delete(settle) && open.size === 0) this.openEmits = undefined;
  }

  private forgetFailures(seq: number): void {
    if (this.failures?.delete(seq) === true && this.failures.size === 0) this.failures = undefined;
  }

  private deliveryLog(h: Held): Logger {
    return this.log.child({ orderId: h.delivery.orderId, deliveryId: h.delivery.deliveryId, traceId: h.traceId });
  }

  // ---------------------------------------------------------------------------------------------
  // Tokens

  /** `auth:refresh`: swaps the socket's token in place, or says why not. */
  async refresh(token: unknown): Promise<AuthRefreshResult> {
    const { metrics, verifier } = this.ctx;
    let claims;
    try {
      claims = await verifier.verifyDisplayToken(token);
    } catch (err) {
      const reason: DisconnectReason = isTokenError(err) ? err.reason : 'internal_error';
      metrics.refreshes.inc({ outcome: reason });
      this.log.info({ code: isTokenError(err) ? err.code : undefined, reason }, 'auth:refresh rejected');
      if (reason !== 'internal_error') this.ctx.onRefreshRefused?.(this.socket, reason, isTokenError(err) ? err.code : undefined);
      return { ok: false, reason, message: isTokenError(err) ? err.message : 'token could not be verified' };
    }
    const current = this.socket.data.claims;
    if (claims.sub !== current.sub || claims.tid !== current.tid) {
      metrics.refreshes.inc({ outcome: 'unauthorized' });
      this.log.warn({ otherDisplay: claims.sub }, 'auth:refresh with a token of another display');
      this.ctx.onRefreshRefused?.(this.socket, 'unauthorized', 'foreign_display_token');
      return { ok: false, reason: 'unauthorized', message: 'token belongs to another display' };
    }
    if (this.ctx.isRevokedFamily(claims.fam)) {
      metrics.refreshes.inc({ outcome: 'token_revoked' });
      this.ctx.onRefreshRefused?.(this.socket, 'token_revoked', undefined);
      return { ok: false, reason: 'token_revoked', message: 'token family was revoked' };
    }
    if (this.closed) return { ok: false, reason: 'unauthorized', message: 'session ended' };
    this.socket.data.claims = sessionClaims(claims);
    this.armExpiry();
    metrics.refreshes.inc({ outcome: 'ok' });
    this.log.debug({ expiresAt: claims.exp * 1000 }, 'token refreshed in band');
    return { ok: true, expiresAt: claims.exp * 1000 };
  }

  private armExpiry(): void {
    const exp = this.socket.data.claims.exp;
    if (exp * 1000 <= Date.now()) {
      this.cancelExpiry();
      this.end('token_expired', true);
      return;
    }
    this.ctx.expiry.schedule(this, exp, this.expiresAtSec);
    this.expiresAtSec = exp;
  }

  private cancelExpiry(): void {
    if (this.expiresAtSec !== undefined) this.ctx.expiry.cancel(this, this.expiresAtSec);
    this.expiresAtSec = undefined;
  }

  /** The node's expiry schedule says the token's `exp` has come: ends the session unless refreshed since. */
  expire(): void {
    this.expiresAtSec = undefined;
    if (this.closed) return;
    this.armExpiry();
  }

  // ---------------------------------------------------------------------------------------------
  // Ending

  /**
   * Tells the display why, then disconnects it (the `disconnect` event closes the session).
   * False when the session had already ended.
   */
  end(reason: DisconnectReason, reconnect: boolean, message?: string): boolean {
    if (this.closed || !this.socket.connected) return false;
    this.ctx.metrics.sessionEnded.inc({ reason });
    this.log.info({ reason, reconnect }, 'ending display session');
    this.socket.emit('session:end', message === undefined ? { reason, reconnect } : { reason, reconnect, message });
    this.socket.disconnect(true);
    return true;
  }

  /**
   * Stops pulling and hands every held message back at once (nak without delay). Idempotent.
   * Returns how many messages were handed back.
   */
  close(why: string): number {
    if (this.closed) return 0;
    this.closed = true;
    this.cancelExpiry();
    this.mailbox?.close();
    const open = this.openEmits;
    for (const settle of open === undefined ? [] : open instanceof Set ? [...open] : [open]) settle();
    const handedBack = this.held.size;
    for (const h of this.held.values()) this.ctx.engine.acker.nak(h.msg);
    this.heldBySeq = undefined;
    this.failures = undefined;
    if (handedBack > 0) {
      this.ctx.metrics.deliveries.inc({ outcome: 'handed_back' }, handedBack);
      this.ctx.engine.announceHandback(this.consumer);
    }
    this.log.info({ why, handedBack }, 'display session closed');
    this.ctx.onClosed(this);
    return handedBack;
  }
}

/** `headers.get(name)`: exact name, first value, '' when absent or without headers. */
function headerValue(headers: PulledHeaders | undefined, name: string): string {
  return headers === undefined ? '' : headers.get(name);
}
