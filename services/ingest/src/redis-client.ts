/**
 * Options of ingest's Redis client. Redis only holds rate-limit and quota counters: never wait for
 * it, never queue commands for it — a command that cannot be sent at once fails, and the limiter
 * counts per process until Redis is back (shared/platform rate-limit.ts).
 *
 * Autopipelining: the counting scripts of the requests that arrive in one turn of the event loop
 * go out in one write (ioredis sends them at the next `setImmediate`), which cut redis-server's
 * CPU per order from 0.059 to 0.024 ms at capacity (issue 14). The answers stay the same: each
 * command still gets its own reply or error, a command that cannot be written (disconnected, no
 * offline queue) still fails, now a `setImmediate` later, and `commandTimeout` still bounds each
 * command from the moment it is written. What it costs: a request waits for that `setImmediate`
 * (microseconds when idle), and ioredis keeps one pipeline in flight, so the commands of the next
 * turn are written when the previous pipeline is answered — against a Redis that stops answering
 * without closing the connection a request can wait up to twice `commandTimeout` before the
 * limiter falls back, instead of once.
 */
import type { RedisOptions } from 'ioredis';
import type { IngestConfig } from './config.js';

/** 2 s cap between Redis reconnect attempts */
export const REDIS_RECONNECT_MAX_MS = 2_000;
/** 200 ms × attempt between Redis reconnect attempts (capped above) */
export const REDIS_RECONNECT_STEP_MS = 200;

export function rateLimitRedisOptions(config: Pick<IngestConfig, 'rateLimitRedisTimeoutMs'>): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.rateLimitRedisTimeoutMs,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * REDIS_RECONNECT_STEP_MS, REDIS_RECONNECT_MAX_MS),
  };
}
