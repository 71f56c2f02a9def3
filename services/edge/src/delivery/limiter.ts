/**
 * A bound on outstanding pull requests for the whole process. A burst that wakes 10,000
 * mailboxes at once turns into a FIFO queue here instead of 10,000 simultaneous requests
 * on the server; each mailbox is queued at most once.
 */
export interface SlotWaiter {
  /** Called when the waiter holds a slot; it must call `release()` exactly once afterwards. */
  onSlot(): void;
}

export interface Limiter {
  /** Runs `waiter.onSlot()` now if a slot is free, else queues it (once). */
  acquire(waiter: SlotWaiter): void;
  /** Removes a queued waiter; false if it was not queued. */
  cancel(waiter: SlotWaiter): boolean;
  release(): void;
  readonly active: number;
  readonly queued: number;
  readonly max: number;
}

export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`limiter size must be a positive integer, got ${max}`);
  // A Set keeps insertion order and deletes in O(1): a FIFO with cheap cancel.
  const queue = new Set<SlotWaiter>();
  let active = 0;

  function grant(w: SlotWaiter): void {
    active++;
    w.onSlot();
  }

  return {
    acquire(w) {
      if (queue.has(w)) return;
      if (active < max) grant(w);
      else queue.add(w);
    },
    cancel(w) {
      return queue.delete(w);
    },
    release() {
      active--;
      // Each release hands its slot to one waiter; a waiter that releases synchronously
      // inside onSlot would recurse, so grant through the loop instead.
      while (active < max && queue.size > 0) {
        const next = queue.values().next().value!;
        queue.delete(next);
        grant(next);
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.size;
    },
    max,
  };
}

/**
 * Runs `fn` holding one slot of `limiter` — at once when one is free, else after the waiters
 * before it (FIFO) — and releases the slot when `fn` settles.
 */
export async function withSlot<T>(limiter: Limiter, fn: () => Promise<T>): Promise<T> {
  await new Promise<void>((resolve) => limiter.acquire({ onSlot: resolve }));
  try {
    return await fn();
  } finally {
    limiter.release();
  }
}
