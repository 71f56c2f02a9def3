/**
 * Per-client-address token buckets for handshakes. In process on purpose: a reconnect storm
 * must be bounded even while Redis is down, and each node bounds its own work. A store's
 * displays behind one NAT address reconnect together after an edge restart, so the burst is
 * generous; the sustained rate is what stops a token-guessing or crash-looping client.
 */

/** How often idle, refilled buckets are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

export interface RateLimiter {
  /** Takes one token for `key`; false when the bucket is empty. Always true when disabled. */
  take(key: string): boolean;
  readonly size: number;
  close(): void;
}

/** One token bucket (a socket's own message budget). */
export interface TokenBucket {
  /** Takes one token; false when empty. Always true when `perSecond` is 0 (disabled). */
  take(): boolean;
}

export function createTokenBucket(options: { perSecond: number; burst: number; now?: () => number }): TokenBucket {
  const { perSecond, burst } = options;
  const now = options.now ?? Date.now;
  let tokens = burst;
  let at = now();
  return {
    take() {
      if (perSecond <= 0) return true;
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond);
      at = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

export function createRateLimiter(options: { perSecond: number; burst: number; now?: () => number }): RateLimiter {
  const { perSecond, burst } = options;
  const now = options.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refill = (b: { tokens: number; at: number }, t: number): void => {
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond);
    b.at = t;
  };
  const timer = setInterval(() => {
    const t = now();
    for (const [k, b] of buckets) {
      refill(b, t);
      if (b.tokens >= burst) buckets.delete(k);
    }
  }, PRUNE_INTERVAL_MS);
  timer.unref();
  return {
    take(key) {
      if (perSecond <= 0) return true;
      const t = now();
      let b = buckets.get(key);
      if (b === undefined) buckets.set(key, (b = { tokens: burst, at: t }));
      else refill(b, t);
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    get size() {
      return buckets.size;
    },
    close() {
      clearInterval(timer);
    },
  };
}
