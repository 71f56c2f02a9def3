/**
 * Rate limits on the token endpoints, counted in Redis so every replica shares one budget.
 *
 * Redis down → fail open to a per-process limiter, not to "no limit": auth stays available
 * (displays must be able to refresh during a Redis outage) while a brute-force attempt is still
 * throttled, at worst N replicas × the limit. Redis holds nothing that cannot be lost.
 *
 * `@fastify/rate-limit` runs only one of its hooks per request, and the token endpoint needs two
 * limits (per IP before parsing, per client id after), so routes use `createRateLimit` checks
 * through `enforce()` and this module owns the 429 response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from '@orderwire/platform';
import { AUTH_ERRORS } from './errors.js';
import type { AuthMetrics } from './metrics.js';

/** Redis key namespace of the counters. */
export const RATE_LIMIT_PREFIX = 'ow:auth:rl:';
/** 10000 keys kept by the in-process fallback limiter. */
export const LOCAL_LIMITER_MAX_KEYS = 10_000;
/** 30000 ms between "Redis unavailable" log lines. */
const FALLBACK_LOG_INTERVAL_MS = 30_000;

const INCR_LUA = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { current, ttl }
`;

type IncrCallback = (err: Error | null, result?: { current: number; ttl: number }) => void;

interface Window {
  current: number;
  resetAt: number;
}

/** Fixed-window counter in process memory, bounded in size. */
export function createLocalWindows(maxKeys = LOCAL_LIMITER_MAX_KEYS): (key: string, windowMs: number) => { current: number; ttl: number } {
  const windows = new Map<string, Window>();
  return (key, windowMs) => {
    const now = Date.now();
    let w = windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      if (windows.size >= maxKeys) {
        for (const [k, v] of windows) if (v.resetAt <= now) windows.delete(k);
        // Still full of live windows: drop the oldest insertion rather than grow without bound.
        if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!);
      }
      w = { current: 0, resetAt: now + windowMs };
      windows.set(key, w);
    }
    w.current += 1;
    return { current: w.current, ttl: w.resetAt - now };
  };
}

export interface FailoverStoreOptions {
  redis: Redis;
  logger: Logger;
  metrics: AuthMetrics;
}

/** A `@fastify/rate-limit` store: Redis when it answers, the local windows when it does not. */
export function failoverStoreClass(options: FailoverStoreOptions): new () => {
  incr(key: string, cb: IncrCallback, timeWindow: number, max: number): void;
  child(): unknown;
} {
  const { redis, logger, metrics } = options;
  const local = createLocalWindows();
  let lastLog = 0;

  function fallback(key: string, timeWindow: number, err: unknown): { current: number; ttl: number } {
    metrics.rateLimitFallbacks.inc();
    const now = Date.now();
    if (now - lastLog > FALLBACK_LOG_INTERVAL_MS) {
      lastLog = now;
      logger.warn({ err }, 'rate limiter: Redis unavailable, using per-process limits');
    }
    return local(key, timeWindow);
  }

  return class FailoverStore {
    incr(key: string, cb: IncrCallback, timeWindow: number): void {
      if (redis.status !== 'ready') {
        cb(null, fallback(key, timeWindow, new Error(`redis status ${redis.status}`)));
        return;
      }
      redis
        .eval(INCR_LUA, 1, RATE_LIMIT_PREFIX + key, String(timeWindow))
        .then((res) => {
          const [current, ttl] = res as [number, number];
          cb(null, { current, ttl });
        })
        .catch((err: unknown) => cb(null, fallback(key, timeWindow, err)));
    }
    child(): this {
      return this;
    }
  };
}

export interface Limit {
  /** Label of `orderwire_rate_limited_total{route}` and key namespace. */
  name: string;
  max: number;
  windowMs: number;
  /** The counted identity (IP, client id). */
  key: (req: FastifyRequest) => string;
}

export type LimitCheck = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface RateLimiter {
  /** A check that throws ORDERWIRE_ERR_AUTH_RATE_LIMITED (429, Retry-After) when over the limit. */
  check(limit: Limit): LimitCheck;
}

export function ipKey(req: FastifyRequest): string {
  return normalizeIP(req.ip);
}

export async function registerRateLimiter(app: FastifyInstance, options: FailoverStoreOptions): Promise<RateLimiter> {
  await app.register(fastifyRateLimit, { global: false, store: failoverStoreClass(options) as never });
  return {
    check(limit) {
      // The series exists from the start, so rate-limit panels and alerts read 0, not "no data".
      options.metrics.rateLimited.inc({ route: limit.name }, 0);
      const consume = app.createRateLimit({
        max: limit.max,
        timeWindow: limit.windowMs,
        keyGenerator: (req) => `${limit.name}:${limit.key(req)}`,
      });
      return async (req, reply) => {
        const res = await consume(req);
        if (res.isAllowed || !res.isExceeded) return;
        options.metrics.rateLimited.inc({ route: limit.name });
        const after = Math.max(1, res.ttlInSeconds);
        void reply.header('retry-after', String(after));
        throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_RATE_LIMITED', { after: `${after}s` }, { details: { retryAfter: after } });
      };
    },
  };
}
