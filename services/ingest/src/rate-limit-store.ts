/**
 * Store for @fastify/rate-limit: counters in Redis (shared by every ingest instance), and a
 * per-process fallback while Redis is unreachable. Redis holds nothing that cannot be lost, so
 * a Redis outage must not stop order intake: the limiter fails open to local counting (each
 * instance then enforces the limit on its own share of traffic) and says so in logs and metrics.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { IngestMetrics } from './metrics.js';

/** 10000 tenants counted locally before expired windows are swept */
export const LOCAL_LIMITER_CAPACITY = 10_000;

// One round trip: count, start the window on the first hit, report the window's remaining ms.
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}
`;

type IncrResult = { current: number; ttl: number };
type IncrCallback = (error: Error | null, result?: IncrResult) => void;

export interface RateLimitStoreOptions {
  /** Undefined: count locally only (no Redis configured). */
  redis: Redis | undefined;
  /** Redis key prefix, e.g. `ow:rl:ingest:`. */
  keyPrefix: string;
  logger: Logger;
  metrics: IngestMetrics;
  localCapacity?: number;
}

export interface RateLimitStoreHandle {
  Store: FastifyRateLimitStoreCtor;
  /** True while the local fallback decides. */
  degraded: () => boolean;
}

function createLocalCounter(capacity: number): (key: string, windowMs: number) => IncrResult {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return (key, windowMs) => {
    const now = Date.now();
    let w = windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      if (windows.size >= capacity) {
        for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
        // Still full of live windows: forget the oldest rather than grow without bound.
        if (windows.size >= capacity) windows.delete(windows.keys().next().value!);
      }
      w = { count: 0, resetAt: now + windowMs };
      windows.set(key, w);
    }
    w.count++;
    return { current: w.count, ttl: w.resetAt - now };
  };
}

export function createRateLimitStore(options: RateLimitStoreOptions): RateLimitStoreHandle {
  const { redis, keyPrefix, logger, metrics } = options;
  const local = createLocalCounter(options.localCapacity ?? LOCAL_LIMITER_CAPACITY);
  let degraded = false;

  function setDegraded(next: boolean, err?: unknown): void {
    if (next === degraded) return;
    degraded = next;
    metrics.rateLimitDegraded.set(next ? 1 : 0);
    if (next) logger.warn({ err }, 'rate limiter: redis unavailable, failing open to per-process counting');
    else logger.info('rate limiter: redis available again');
  }
  metrics.rateLimitDegraded.set(0);

  function incr(key: string, cb: IncrCallback, timeWindow: number): void {
    const fallback = (err: unknown): void => {
      setDegraded(true, err);
      cb(null, local(key, timeWindow));
    };
    if (redis === undefined || redis.status !== 'ready') {
      fallback(redis === undefined ? 'no redis configured' : `redis connection ${redis.status}`);
      return;
    }
    redis
      .eval(INCR_SCRIPT, 1, keyPrefix + key, timeWindow)
      .then((res) => {
        const [current, ttl] = res as [number, number];
        setDegraded(false);
        cb(null, { current, ttl });
      })
      .catch(fallback);
  }

  class TenantRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: IncrCallback, timeWindow: number): void {
      incr(key, callback, timeWindow);
    }
    // Keys already name the route group (see the key generators), so children share one store.
    child(): FastifyRateLimitStore {
      return this;
    }
  }

  return { Store: TenantRateLimitStore, degraded: () => degraded };
}
