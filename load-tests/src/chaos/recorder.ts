/**
 * What one chaos case measured, kept per order and per (order, display) pair so every figure of
 * the report can be computed after the run: the ledger counts loss and duplicates on screen, the
 * recorder adds the clock — when each order was first sent, when ingest accepted it, when each
 * display showed it, and every answer ingest gave — so availability, gaps, recovery and p99 can
 * be read for the fault window alone. Pure: no I/O, unit-tested.
 */
import type { PublishAttempt } from '../publisher.js';
import { displaysOfGroup, orderGroup, type Fleet } from '../plan.js';
import { Samples } from '../stats.js';

/** A span of the run on the epoch-ms clock. */
export interface Window {
  startAt: number;
  endAt: number;
}

export interface Availability {
  /** Attempts answered (or failed) inside the window. */
  requests: number;
  /** Share answered 2xx (0–1); 1 when there were no requests. */
  ok: number;
  /** Share answered 503. */
  unavailable: number;
  /** 503s that carried Retry-After, of all 503s (0–1; 1 when there were none). */
  retryAfterShare: number;
  /** Every other answer by status ('network' = transport failure or client timeout). */
  other: Record<string, number>;
}

export interface ChaosFigures {
  /** Longest time without any delivery on any display while orders were being sent (ms). */
  longestGapMs: number;
  /**
   * From the end of the fault until every order accepted before that moment was shown on every
   * target display and ingest answered 2xx again (ms). 0 when nothing was behind.
   */
  recoveryMs: number | undefined;
  /** First attempt → shown, for orders first sent during the fault (ms). */
  faultLatencyP99Ms: number | undefined;
  faultLatencyMaxMs: number | undefined;
  /** The same for the whole run. */
  latencyP99Ms: number | undefined;
  availability: Availability;
}

export class ChaosRecorder {
  private readonly firstSent = new Map<number, number>();
  private readonly acceptedAt = new Map<number, number>();
  /** Epoch ms a pair was first shown; index n * fanout + position in the group. */
  private readonly shownAt = new Map<number, number>();
  private readonly attempts: PublishAttempt[] = [];

  constructor(private readonly fleet: Fleet) {}

  attempt(a: PublishAttempt): void {
    this.attempts.push(a);
    if (!this.firstSent.has(a.n)) this.firstSent.set(a.n, a.sentAt);
  }

  /** `at`: ingest's acceptedAt (epoch ms), or when the 202 arrived. */
  accepted(n: number, at: number): void {
    if (!this.acceptedAt.has(n)) this.acceptedAt.set(n, at);
  }

  /** A first showing of order n on display `slot`, `latencyMs` after ingest accepted it (the worker's clock). */
  shown(slot: number, n: number, latencyMs: number): void {
    const accepted = this.acceptedAt.get(n);
    const { first } = displaysOfGroup(this.fleet, orderGroup(this.fleet, n));
    const key = n * this.fleet.fanout + (slot - first);
    // The worker measures from ingest's acceptedAt; the 202 can arrive after the showing.
    const at = accepted === undefined ? Date.now() : accepted + latencyMs;
    if (!this.shownAt.has(key)) this.shownAt.set(key, at);
  }

  figures(fault: Window, sending: Window): ChaosFigures {
    const shows = [...this.shownAt.values()].filter((t) => t >= sending.startAt).sort((a, b) => a - b);
    let longestGapMs = 0;
    let prev = sending.startAt;
    for (const t of shows) {
      if (t > sending.endAt) break;
      longestGapMs = Math.max(longestGapMs, t - prev);
      prev = t;
    }
    if (shows.length === 0) longestGapMs = sending.endAt - sending.startAt;

    const fanout = this.fleet.fanout;
    let behindUntil = fault.endAt;
    let complete = true;
    for (const [n, at] of this.acceptedAt) {
      if (at > fault.endAt) continue;
      const { first, end } = displaysOfGroup(this.fleet, orderGroup(this.fleet, n));
      for (let slot = first; slot < end; slot++) {
        const t = this.shownAt.get(n * fanout + (slot - first));
        if (t === undefined) complete = false;
        else behindUntil = Math.max(behindUntil, t);
      }
    }
    const firstOkAfter = this.attempts.filter((a) => a.status === 202 && a.answeredAt >= fault.endAt).reduce((m, a) => Math.min(m, a.answeredAt), Infinity);
    const okAgain = Number.isFinite(firstOkAfter) ? firstOkAfter : undefined;
    const recoveryMs = complete && okAgain !== undefined ? Math.max(behindUntil, okAgain) - fault.endAt : undefined;

    const during = new Samples(1024);
    const all = new Samples(1024);
    for (const [n, sent] of this.firstSent) {
      const { first, end } = displaysOfGroup(this.fleet, orderGroup(this.fleet, n));
      for (let slot = first; slot < end; slot++) {
        const t = this.shownAt.get(n * fanout + (slot - first));
        if (t === undefined) continue;
        all.add(t - sent);
        if (sent >= fault.startAt && sent <= fault.endAt) during.add(t - sent);
      }
    }
    const d = during.summary();
    return {
      longestGapMs,
      recoveryMs,
      faultLatencyP99Ms: d?.p99,
      faultLatencyMaxMs: d?.max,
      latencyP99Ms: all.summary()?.p99,
      availability: this.availability(fault),
    };
  }

  availability(w: Window): Availability {
    const inside = this.attempts.filter((a) => a.answeredAt >= w.startAt && a.sentAt <= w.endAt);
    const other: Record<string, number> = {};
    let ok = 0;
    let unavailable = 0;
    let withRetryAfter = 0;
    for (const a of inside) {
      if (typeof a.status === 'number' && a.status >= 200 && a.status < 300) ok++;
      else if (a.status === 503) {
        unavailable++;
        if (a.retryAfter) withRetryAfter++;
      } else other[String(a.status)] = (other[String(a.status)] ?? 0) + 1;
    }
    const n = inside.length;
    return {
      requests: n,
      ok: n === 0 ? 1 : ok / n,
      unavailable: n === 0 ? 0 : unavailable / n,
      retryAfterShare: unavailable === 0 ? 1 : withRetryAfter / unavailable,
      other,
    };
  }
}
