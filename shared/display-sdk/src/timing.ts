/**
 * Clock, timers and backoff, injectable so tests can drive time and browsers and Node share
 * one implementation.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Timers looked up at call time, so fake timers installed after construction still apply. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof clearTimeout>[0]),
};

export const systemNow = (): number => Date.now();

/** Larger delays overflow setTimeout's 32-bit millisecond counter and fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export function clampDelay(ms: number): number {
  return Math.min(Math.max(0, Math.ceil(ms)), MAX_TIMER_MS);
}

/** Lets a timer not keep a Node process alive (no-op in browsers). */
export function unrefTimer(handle: unknown): void {
  const h = handle as { unref?: () => unknown } | null;
  if (h !== null && typeof h === 'object' && typeof h.unref === 'function') h.unref();
}

export interface BackoffPolicy {
  /** First delay. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter": the delay for the n-th consecutive failure (1-based)
 * is uniformly spread over [d/2, d] with d = min(maxMs, baseMs·2^(n-1)). Half the delay is
 * guaranteed (no hammering), the other half spreads a fleet of displays that failed together.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
