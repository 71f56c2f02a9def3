/**
 * Publishes `rate` orders per second for `durationS` seconds through `POST /v1/orders`, with at
 * most `concurrency` requests in flight. Behaves like a well-mannered upstream system: a 503 or
 * 429 (broker outage, breaker open) is retried with the same order id after `Retry-After`, so
 * idempotency turns retries into at most one publish; a 401 refreshes the token once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { retryAfterMs, type HttpClient } from './http.js';
import { orderBody, type Fleet } from './plan.js';
import { Samples } from './stats.js';

/** 5 s cap on one retry delay */
export const RETRY_DELAY_MAX_MS = 5_000;
/** 250 ms retry delay when the answer has no Retry-After */
export const RETRY_DELAY_DEFAULT_MS = 250;
/** An order is given up this long after its first attempt */
export const ORDER_GIVE_UP_MS = 60_000;

export interface PublisherOptions {
  http: HttpClient;
  ingestUrl: string;
  fleet: Fleet;
  rate: number;
  durationS: number;
  concurrency: number;
  /** Current upstream token; `refresh` gets a new one after a 401. */
  token(): string;
  refresh(): Promise<void>;
  /** Order n has its 202; `acceptedAt` is ingest's epoch ms from the answer, when it gave one. */
  onAccepted(n: number, acceptedAt?: number): void;
  /**
   * Every answer (or transport failure) of every attempt, with its epoch ms — the chaos suite
   * measures availability during a fault from these. `retryAfter`: the answer carried the header.
   */
  onAttempt?(attempt: PublishAttempt): void;
  /** Stops scheduling new orders before `durationS` is over; orders already started still finish (with their retries). */
  until?: AbortSignal;
}

export interface PublishAttempt {
  n: number;
  attempt: number;
  /** HTTP status, or 'network' for a transport failure. */
  status: number | 'network';
  retryAfter: boolean;
  /** Epoch ms when the request was sent and when its answer (or failure) came. */
  sentAt: number;
  answeredAt: number;
}

export interface PublisherResult {
  /** Orders scheduled (rate × duration). */
  scheduled: number;
  /** Orders with a 202 in the end. */
  accepted: number;
  /** 202s that said `duplicate: true` (an earlier attempt had published). */
  acceptedDuplicate: number;
  /** Orders that needed more than one attempt. */
  retried: number;
  /** Orders never accepted (gave up). */
  failed: number;
  /** Final or intermediate non-202 answers by status ("network" for transport errors). */
  statuses: Record<string, number>;
  /** Request → 202 latency of first-attempt successes (ms). */
  httpLatency: Samples;
  /** First publish to last answer, seconds. */
  elapsedS: number;
  /** Worst lateness of a request behind its schedule (ms): large when the system could not take the rate with `concurrency` in flight. */
  maxScheduleLagMs: number;
}

export async function runPublisher(o: PublisherOptions, abort?: AbortSignal): Promise<PublisherResult> {
  const total = Math.max(1, Math.round(o.rate * o.durationS));
  const result: PublisherResult = {
    scheduled: total,
    accepted: 0,
    acceptedDuplicate: 0,
    retried: 0,
    failed: 0,
    statuses: {},
    httpLatency: new Samples(total),
    elapsedS: 0,
    maxScheduleLagMs: 0,
  };
  const count = (key: string): void => {
    result.statuses[key] = (result.statuses[key] ?? 0) + 1;
  };
  let refreshing: Promise<void> | undefined;
  const refreshOnce = (): Promise<void> => {
    refreshing ??= o.refresh().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  const publishOne = async (n: number): Promise<void> => {
    const body = orderBody(o.fleet, n, new Date());
    const firstAttempt = performance.now();
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const sentAt = Date.now();
      let status: string;
      let delay = RETRY_DELAY_DEFAULT_MS;
      try {
        const res = await o.http.request('POST', `${o.ingestUrl}/v1/orders`, {
          body,
          headers: { authorization: `Bearer ${o.token()}` },
        });
        o.onAttempt?.({ n, attempt, status: res.status, retryAfter: res.headers['retry-after'] !== undefined, sentAt, answeredAt: Date.now() });
        if (res.status === 202) {
          if (attempt === 1) result.httpLatency.add(performance.now() - started);
          else result.retried++;
          const answer = res.body as { duplicate?: unknown; acceptedAt?: unknown } | undefined;
          if (answer?.duplicate === true) result.acceptedDuplicate++;
          result.accepted++;
          o.onAccepted(n, typeof answer?.acceptedAt === 'number' ? answer.acceptedAt : undefined);
          return;
        }
        status = String(res.status);
        if (res.status === 401) {
          await refreshOnce();
          delay = 0;
        } else if (res.status === 429 || res.status >= 500) {
          delay = Math.min(RETRY_DELAY_MAX_MS, retryAfterMs(res.headers) ?? RETRY_DELAY_DEFAULT_MS);
        } else {
          // 4xx other than 401/429: the order itself is wrong; retrying cannot help.
          count(status);
          result.failed++;
          return;
        }
      } catch {
        status = 'network';
        o.onAttempt?.({ n, attempt, status: 'network', retryAfter: false, sentAt, answeredAt: Date.now() });
      }
      count(status);
      if (abort?.aborted === true || performance.now() + delay - firstAttempt > ORDER_GIVE_UP_MS) {
        result.failed++;
        return;
      }
      if (delay > 0) await sleep(delay);
    }
  };

  const t0 = performance.now();
  const interval = 1000 / o.rate;
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  for (; n < total; n++) {
    if (abort?.aborted === true || o.until?.aborted === true) break;
    const dueAt = t0 + n * interval;
    const wait = dueAt - performance.now();
    if (wait > 1) await sleep(wait);
    while (inFlight.size >= o.concurrency) await Promise.race(inFlight);
    result.maxScheduleLagMs = Math.max(result.maxScheduleLagMs, performance.now() - dueAt);
    const p = publishOne(n).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  result.scheduled = n;
  result.elapsedS = (performance.now() - t0) / 1000;
  return result;
}
