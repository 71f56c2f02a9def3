/**
 * Attempts and retries. The durable state is the delivery record in `ow_webhook_deliveries`;
 * this process keeps the pending ones in memory (a KV mirror) and attempts those that are due.
 *
 *   pending ──claim (CAS)──► attempt ──2xx──────────────────────────► succeeded
 *      ▲                        │ ──410─────────────► failed (endpoint_gone; endpoint disabled)
 *      │                        │ ──other, retries left──► pending, nextAttemptAt = now + wait
 *      └────────────────────────┘ ──other, schedule used up──► failed (exhausted)
 *
 * - A claim is a compare-and-set write of `{ by, until }` before the request: of two replicas
 *   only one wins; a process killed mid-attempt leaves a claim that simply expires, and the
 *   delivery is attempted again (at-least-once, the same webhook-id).
 * - Waits follow the retry schedule with ±20 % jitter; a receiver's Retry-After lengthens a
 *   wait (capped), never shortens it.
 * - Isolation: at most `endpointConcurrency` attempts per endpoint and `concurrency` in all, each
 *   bounded by the request timeout, and a circuit breaker per endpoint: while it is open the
 *   endpoint's deliveries wait without using a slot — a slow or dead endpoint never holds back
 *   another's deliveries.
 * - A disabled endpoint's deliveries wait (they go when it is enabled again, while their record
 *   lives); a deleted endpoint's fail (`endpoint_deleted`).
 */
import type { KV } from '@nats-io/kv';
import { webhookDeliveryKey, type WebhookAttempt, type WebhookDeliveryRecord, type WebhookEndpointRecord } from '@orderwire/contracts';
import { createKvMirror, isWrongLastSequence, KV_BUCKETS, type KvMirror, type Logger, type NatsConnection } from '@orderwire/platform';
import CircuitBreaker from 'opossum';
import type { Endpoints } from './endpoints.js';
import type { WebhooksMetrics } from './metrics.js';
import type { AttemptResult, Sender } from './sender.js';
import { signingSecrets, webhookHeaders } from './signature.js';

/** ±20 % of each wait, so endpoints failing together do not retry in lockstep. */
const JITTER = 0.2;
/** A claim lasts the request timeout plus this, so a live attempt's claim never lapses first. */
const CLAIM_MARGIN_MS = 2_000;
/** Attempts kept in a record (the schedule's 8 plus manual retries). */
const ATTEMPTS_KEPT = 50;
/** opossum's error code for a fire refused by an open breaker. */
const OPOSSUM_OPEN = 'EOPENBREAKER';

export interface SchedulerOptions {
  nc: NatsConnection;
  kv: KV;
  endpoints: Endpoints;
  sender: Sender;
  metrics: WebhooksMetrics;
  logger: Logger;
  /** INSTANCE_ID: recorded in claims. */
  instance: string;
  retryScheduleMs: readonly number[];
  requestTimeoutMs: number;
  concurrency: number;
  endpointConcurrency: number;
  disableAfterMs: number;
  tickMs: number;
  retryAfterMaxMs: number;
  breaker: { errorThresholdPercentage: number; volumeThreshold: number; resetTimeoutMs: number; windowMs: number };
  /** Tests fix it. @default Math.random */
  random?: () => number;
}

export interface Scheduler {
  start(syncTimeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  /** Deliveries waiting (readiness detail, tests). */
  pendingCount(): number;
  watching(): boolean;
}

interface Pending {
  key: string;
  record: WebhookDeliveryRecord;
  revision: number;
}

class AttemptFailed extends Error {
  constructor(readonly result: AttemptResult) {
    super(result.error ?? result.outcome);
  }
}

/** The wait before attempt `attemptNumber + 1`, or undefined when the schedule is used up. */
export function nextWait(scheduleMs: readonly number[], attemptsMade: number, random: () => number): number | undefined {
  const base = scheduleMs[attemptsMade - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

export function createScheduler(o: SchedulerOptions): Scheduler {
  const log = o.logger.child({ component: 'scheduler' });
  const random = o.random ?? Math.random;
  const pending = new Map<string, Pending>();
  const inFlight = new Set<string>();
  const perEndpoint = new Map<string, number>();
  const breakers = new Map<string, CircuitBreaker<[WebhookEndpointRecord, WebhookDeliveryRecord], AttemptResult>>();
  const running = new Set<Promise<void>>();
  let mirror: KvMirror<Pending> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let kickQueued = false;
  let stopped = false;

  const epKey = (tenant: string, id: string): string => `${tenant}.${id}`;

  function breakerFor(ep: WebhookEndpointRecord): CircuitBreaker<[WebhookEndpointRecord, WebhookDeliveryRecord], AttemptResult> {
    const k = epKey(ep.tenant, ep.id);
    let b = breakers.get(k);
    if (b === undefined) {
      b = new CircuitBreaker(
        async (endpoint: WebhookEndpointRecord, d: WebhookDeliveryRecord): Promise<AttemptResult> => {
          const secrets = signingSecrets(endpoint.secrets, Date.now());
          const result = await o.sender.send(endpoint.url, webhookHeaders(secrets, d.id, Date.now(), d.body), d.body);
          if (result.outcome !== 'success') throw new AttemptFailed(result);
          return result;
        },
        {
          name: `webhook-${k}`,
          // The sender bounds every attempt itself; an opossum timeout would answer while the
          // request is still in flight.
          timeout: false,
          errorThresholdPercentage: o.breaker.errorThresholdPercentage,
          volumeThreshold: o.breaker.volumeThreshold,
          resetTimeout: o.breaker.resetTimeoutMs,
          rollingCountTimeout: o.breaker.windowMs,
        },
      );
      b.on('open', () => {
        log.warn({ tenant: ep.tenant, endpointId: ep.id }, 'endpoint breaker opened; its deliveries wait');
        updateBreakerGauge();
      });
      b.on('close', () => {
        log.info({ tenant: ep.tenant, endpointId: ep.id }, 'endpoint breaker closed');
        updateBreakerGauge();
      });
      b.on('halfOpen', () => {
        updateBreakerGauge();
        kick();
      });
      breakers.set(k, b);
    }
    return b;
  }

  function updateBreakerGauge(): void {
    let open = 0;
    for (const b of breakers.values()) if (b.opened) open++;
    o.metrics.breakersOpen.set(open);
  }

  /** Writes the record's next version by compare-and-set; false when it changed meanwhile. */
  async function write(p: Pending, next: WebhookDeliveryRecord): Promise<number | undefined> {
    try {
      return await o.kv.update(p.key, JSON.stringify(next), p.revision);
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw err;
    }
  }

  async function finishDeleted(p: Pending): Promise<void> {
    const next: WebhookDeliveryRecord = { ...p.record, state: 'failed', failedReason: 'endpoint_deleted' };
    delete next.claim;
    if ((await write(p, next)) !== undefined) o.metrics.deliveriesFinished.inc({ result: 'endpoint_deleted' });
  }

  async function attempt(p: Pending, ep: WebhookEndpointRecord): Promise<void> {
    const start = Date.now();
    const claimed: WebhookDeliveryRecord = { ...p.record, claim: { by: o.instance, until: start + o.requestTimeoutMs + CLAIM_MARGIN_MS } };
    const claimRevision = await write(p, claimed);
    if (claimRevision === undefined) return; // another replica (or a manual retry) got there first
    const dlog = log.child({ tenant: p.record.tenant, endpointId: ep.id, messageId: p.record.id, type: p.record.type });

    let result: AttemptResult;
    try {
      result = await breakerFor(ep).fire(ep, p.record);
    } catch (err) {
      if (err instanceof AttemptFailed) {
        result = err.result;
      } else if ((err as { code?: unknown }).code === OPOSSUM_OPEN) {
        // Opened between the check and the fire: give the claim back, no attempt was made.
        const back: WebhookDeliveryRecord = { ...p.record, nextAttemptAt: Date.now() + o.breaker.resetTimeoutMs };
        delete back.claim;
        await write({ ...p, revision: claimRevision }, back);
        return;
      } else {
        throw err;
      }
    }
    o.metrics.attempts.inc({ outcome: result.outcome });
    o.metrics.attemptDuration.observe(result.durationMs / 1000);
    const a: WebhookAttempt = {
      at: new Date(start).toISOString(),
      outcome: result.outcome,
      durationMs: result.durationMs,
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.error === undefined ? {} : { error: result.error }),
    };
    const attempts = [...p.record.attempts, a].slice(-ATTEMPTS_KEPT);
    const next: WebhookDeliveryRecord = { ...p.record, attempts };
    delete next.claim;
    const now = Date.now();
    let finished: string | undefined;
    if (result.outcome === 'success') {
      next.state = 'succeeded';
      finished = 'succeeded';
    } else if (result.outcome === 'gone') {
      next.state = 'failed';
      next.failedReason = 'endpoint_gone';
      finished = 'endpoint_gone';
    } else {
      const wait = nextWait(o.retryScheduleMs, attempts.length, random);
      if (wait === undefined) {
        next.state = 'failed';
        next.failedReason = 'exhausted';
        finished = 'exhausted';
      } else {
        const retryAfter = result.retryAfterMs === undefined ? 0 : Math.min(result.retryAfterMs, o.retryAfterMaxMs);
        next.nextAttemptAt = now + Math.max(wait, retryAfter);
      }
    }
    const written = await write({ ...p, revision: claimRevision }, next);
    if (written === undefined) {
      dlog.warn({ outcome: result.outcome }, 'delivery changed during the attempt; its newer state stands');
    } else if (finished !== undefined) {
      o.metrics.deliveriesFinished.inc({ result: finished });
    }
    dlog.info(
      { outcome: result.outcome, status: result.status, attempt: attempts.length, durationMs: result.durationMs, state: next.state, nextAttemptAt: next.state === 'pending' ? next.nextAttemptAt : undefined },
      'webhook attempt',
    );

    // Endpoint health, after the delivery's own state is safe.
    if (result.outcome === 'success') {
      await o.endpoints.healthy(ep.tenant, ep.id);
    } else if (result.outcome === 'gone') {
      if (await o.endpoints.disable(ep.tenant, ep.id, 'gone')) o.metrics.endpointsDisabled.inc({ reason: 'gone' });
    } else {
      const since = await o.endpoints.failing(ep.tenant, ep.id, start);
      if (since !== undefined && now - since >= o.disableAfterMs) {
        if (await o.endpoints.disable(ep.tenant, ep.id, 'failing')) o.metrics.endpointsDisabled.inc({ reason: 'failing' });
      }
    }
  }

  function launch(p: Pending, ep: WebhookEndpointRecord | undefined): void {
    const k = ep === undefined ? '' : epKey(ep.tenant, ep.id);
    inFlight.add(p.key);
    if (ep !== undefined) perEndpoint.set(k, (perEndpoint.get(k) ?? 0) + 1);
    const run = (ep === undefined ? finishDeleted(p) : attempt(p, ep))
      .catch((err: unknown) => log.error({ err, key: p.key }, 'delivery step failed; it is attempted again when its claim expires'))
      .finally(() => {
        inFlight.delete(p.key);
        if (ep !== undefined) {
          const n = (perEndpoint.get(k) ?? 1) - 1;
          if (n <= 0) perEndpoint.delete(k);
          else perEndpoint.set(k, n);
        }
        running.delete(run);
        kick();
      });
    running.add(run);
  }

  function tick(): void {
    if (stopped) return;
    const now = Date.now();
    const due: Pending[] = [];
    let oldestDue: number | undefined;
    for (const p of pending.values()) {
      if (inFlight.has(p.key) || p.record.nextAttemptAt > now) continue;
      if (p.record.claim !== undefined && p.record.claim.until > now) continue; // held elsewhere
      due.push(p);
    }
    due.sort((a, b) => a.record.nextAttemptAt - b.record.nextAttemptAt);
    for (const p of due) {
      const ep = o.endpoints.get(p.record.tenant, p.record.endpointId);
      if (ep === undefined) {
        if (inFlight.size < o.concurrency) launch(p, undefined);
        continue;
      }
      if (!ep.enabled) continue;
      const b = breakers.get(epKey(ep.tenant, ep.id));
      if (b?.opened === true) continue;
      if ((perEndpoint.get(epKey(ep.tenant, ep.id)) ?? 0) >= o.endpointConcurrency) {
        oldestDue = Math.min(oldestDue ?? Infinity, p.record.nextAttemptAt);
        continue;
      }
      if (inFlight.size >= o.concurrency) {
        oldestDue = Math.min(oldestDue ?? Infinity, p.record.nextAttemptAt);
        continue;
      }
      launch(p, ep);
    }
    o.metrics.pending.set(pending.size);
    o.metrics.queueAge.set(oldestDue === undefined ? 0 : Math.max(0, (now - oldestDue) / 1000));
  }

  /** A tick soon (new or changed delivery, a slot freed), coalesced. */
  function kick(): void {
    if (kickQueued || stopped) return;
    kickQueued = true;
    setImmediate(() => {
      kickQueued = false;
      tick();
    });
  }

  return {
    async start(syncTimeoutMs) {
      stopped = false;
      mirror = await createKvMirror<Pending>({
        nc: o.nc,
        bucket: KV_BUCKETS.WEBHOOK_DELIVERIES,
        logger: o.logger,
        parse: (key, value, revision) => {
          if (!key.startsWith('d.')) return null; // presence records share the bucket
          const r = value as WebhookDeliveryRecord | undefined;
          if (r === undefined || r === null || typeof r !== 'object' || r.v !== 1 || webhookDeliveryKey(r.tenant, r.endpointId, r.id) !== key) return undefined;
          return r.state === 'pending' ? { key, record: r, revision } : null;
        },
        onChange: (key, value) => {
          if (value === undefined) pending.delete(key);
          else pending.set(key, value);
          kick();
        },
      });
      await mirror.synced(syncTimeoutMs);
      timer = setInterval(tick, o.tickMs);
      timer.unref();
      kick();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      // Attempts in flight finish (each bounded by the request timeout) and record their outcome.
      await Promise.allSettled([...running]);
      for (const b of breakers.values()) b.shutdown();
      await mirror?.stop();
    },
    pendingCount: () => pending.size,
    watching: () => mirror?.watching() ?? false,
  };
}
