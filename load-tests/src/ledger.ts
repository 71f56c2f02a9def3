/**
 * Expected versus displayed: every accepted order must be shown once on each display of its
 * group. `lost` = expected (accepted order × target display) pairs never shown.
 */
import { displayPlacement, displaysOfGroup, orderGroup, orderId, type Fleet } from './plan.js';

/** 20 lost pairs listed by name in the result (the count is always complete). */
export const LOST_SAMPLE_SIZE = 20;

export interface LedgerSummary {
  /** Orders with a 202 (first answer or an idempotent retry). */
  accepted: number;
  /** accepted × displays of each order's group. */
  expected: number;
  /** Distinct (order, display) pairs shown, for accepted orders. */
  displayed: number;
  lost: number;
  /** Handler calls beyond the first for the same (order, display): must be 0 (the SDK dedupes). */
  duplicatesShown: number;
  /** Shown on a display outside the order's group: must be 0. */
  misrouted: number;
  /** Shown although the harness never saw a 202 (e.g. the answer was lost to a timeout). */
  shownUnconfirmed: number;
  lostSample: Array<{ orderId: string; displayId: string }>;
}

export class Ledger {
  /** 1 when order n was accepted. */
  private acceptedFlags = new Uint8Array(1024);
  /** Show count per (order, position in its group), saturating at 255. */
  private shows: Uint8Array;
  private maxOrder = -1;
  private duplicates = 0;
  private misroutedCount = 0;

  constructor(private readonly fleet: Fleet) {
    this.shows = new Uint8Array(this.acceptedFlags.length * fleet.fanout);
  }

  private ensure(n: number): void {
    if (n > this.maxOrder) this.maxOrder = n;
    if (n < this.acceptedFlags.length) return;
    let size = this.acceptedFlags.length;
    while (size <= n) size *= 2;
    const flags = new Uint8Array(size);
    flags.set(this.acceptedFlags);
    this.acceptedFlags = flags;
    const shows = new Uint8Array(size * this.fleet.fanout);
    shows.set(this.shows);
    this.shows = shows;
  }

  accepted(n: number): void {
    this.ensure(n);
    this.acceptedFlags[n] = 1;
  }

  isAccepted(n: number): boolean {
    return n < this.acceptedFlags.length && this.acceptedFlags[n] === 1;
  }

  /** Records that display `slot` showed order `n`; false when it was a duplicate or misrouted. */
  shown(slot: number, n: number): boolean {
    this.ensure(n);
    const { first, end } = displaysOfGroup(this.fleet, orderGroup(this.fleet, n));
    if (slot < first || slot >= end) {
      this.misroutedCount++;
      return false;
    }
    const i = n * this.fleet.fanout + (slot - first);
    const count = this.shows[i]!;
    if (count < 255) this.shows[i] = count + 1;
    if (count > 0) {
      this.duplicates++;
      return false;
    }
    return true;
  }

  summary(): LedgerSummary {
    let accepted = 0;
    let expected = 0;
    let displayed = 0;
    let unconfirmed = 0;
    const lostSample: LedgerSummary['lostSample'] = [];
    for (let n = 0; n <= this.maxOrder; n++) {
      const { first, end } = displaysOfGroup(this.fleet, orderGroup(this.fleet, n));
      const isAccepted = this.acceptedFlags[n] === 1;
      if (isAccepted) {
        accepted++;
        expected += end - first;
      }
      for (let slot = first; slot < end; slot++) {
        const seen = this.shows[n * this.fleet.fanout + (slot - first)]! > 0;
        if (!isAccepted) {
          if (seen) unconfirmed++;
        } else if (seen) {
          displayed++;
        } else if (lostSample.length < LOST_SAMPLE_SIZE) {
          lostSample.push({ orderId: orderId(this.fleet.runId, n), displayId: displayPlacement(this.fleet, slot).displayId });
        }
      }
    }
    return {
      accepted,
      expected,
      displayed,
      lost: expected - displayed,
      duplicatesShown: this.duplicates,
      misrouted: this.misroutedCount,
      shownUnconfirmed: unconfirmed,
      lostSample,
    };
  }
}
