/**
 * Token expiry of every session on a node, on one timer. A Timeout per session (with its
 * callback closure and context, ~250 bytes) was a measurable part of what each connected display
 * costs the edge (bench/session-memory.mjs); sessions are grouped here by their token's `exp`,
 * which is whole seconds, so grouping loses no precision: the timer fires at the earliest `exp`
 * and hands every session of that second to `onDue`.
 */

/** setTimeout's ceiling (~24.8 days); later expiries are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ExpirySchedule<T> {
  /** `item` is due at `expSec` (epoch seconds), replacing what it was due at before (`previousSec`). */
  schedule(item: T, expSec: number, previousSec?: number): void;
  /** Forgets `item` (due at `expSec`). */
  cancel(item: T, expSec: number): void;
  /** Items scheduled. */
  readonly size: number;
  close(): void;
}

export function createExpirySchedule<T>(onDue: (item: T) => void, now: () => number = Date.now): ExpirySchedule<T> {
  /** Items by the epoch second they are due at. */
  const due = new Map<number, Set<T>>();
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  let armedFor: number | undefined;

  const earliest = (): number | undefined => {
    let min: number | undefined;
    for (const sec of due.keys()) if (min === undefined || sec < min) min = sec;
    return min;
  };
  const arm = (): void => {
    const next = earliest();
    if (next === armedFor) return;
    clearTimeout(timer);
    timer = undefined;
    armedFor = next;
    if (next === undefined) return;
    timer = setTimeout(fire, Math.min(Math.max(0, next * 1000 - now()), MAX_TIMER_MS));
  };
  function fire(): void {
    timer = undefined;
    armedFor = undefined;
    const t = now();
    const ready: T[] = [];
    for (const [sec, items] of due) {
      if (sec * 1000 > t) continue;
      due.delete(sec);
      size -= items.size;
      for (const item of items) ready.push(item);
    }
    arm();
    // After re-arming: onDue may schedule the item again (a token refreshed meanwhile).
    for (const item of ready) onDue(item);
  }
  const remove = (item: T, sec: number): void => {
    const items = due.get(sec);
    if (items?.delete(item) !== true) return;
    size--;
    if (items.size === 0) due.delete(sec);
  };

  return {
    schedule(item, expSec, previousSec) {
      if (previousSec !== undefined) remove(item, previousSec);
      let items = due.get(expSec);
      if (items === undefined) due.set(expSec, (items = new Set()));
      if (!items.has(item)) {
        items.add(item);
        size++;
      }
      if (armedFor === undefined || expSec < armedFor) arm();
    },
    cancel(item, expSec) {
      remove(item, expSec);
      if (size === 0) arm();
    },
    get size() {
      return size;
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      armedFor = undefined;
      due.clear();
      size = 0;
    },
  };
}
