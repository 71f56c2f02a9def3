/**
 * Ingest's rate limiter: the platform's shared limiter (counters in Redis, shared by every ingest
 * instance, failing open to per-process counting while Redis is unreachable — see
 * shared/platform/src/rate-limit.ts) with ingest's degraded gauge. Redis holds nothing that cannot
 * be lost, so a Redis outage must not stop order intake: each instance then enforces the limits
 * and quotas on its own share of traffic, and says so in logs and `orderwire_ingest_rate_limit_degraded`.
 */
import { createRateLimiter, DEFAULT_LOCAL_LIMITER_CAPACITY, type RateLimiter } from '@orderwire/platform';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { IngestMetrics } from './metrics.js';

/** Tenants counted locally before expired windows are swept. */
export const LOCAL_LIMITER_CAPACITY = DEFAULT_LOCAL_LIMITER_CAPACITY;

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
  /** The `@fastify/rate-limit` store. */
  Store: RateLimiter['Store'];
  /** The limiter itself (order quotas use `take`). */
  limiter: RateLimiter;
  /** True while the local fallback decides. */
  degraded: () => boolean;
}

export function createRateLimitStore(options: RateLimitStoreOptions): RateLimitStoreHandle {
  const { metrics } = options;
  const limiter = createRateLimiter({
    redis: options.redis,
    keyPrefix: options.keyPrefix,
    logger: options.logger,
    localCapacity: options.localCapacity ?? LOCAL_LIMITER_CAPACITY,
    onDegradedChange: (degraded) => metrics.rateLimitDegraded.set(degraded || options.redis === undefined ? 1 : 0),
  });
  return { Store: limiter.Store, limiter, degraded: () => options.redis === undefined || limiter.degraded() };
}
