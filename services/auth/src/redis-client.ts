/**
 * Options of auth's Redis client. Redis only holds rate-limit counters here (and presence is read
 * from it): never wait for it — a command that cannot be sent at once fails, and the limiter
 * counts per process until Redis is back (shared/platform rate-limit.ts).
 *
 * Autopipelining: the counts of the requests that arrive in one turn of the event loop go out in
 * one write (ioredis sends them at the next `setImmediate`), as in ingest
 * (services/ingest/src/redis-client.ts has the measurements and the trade). Each command still gets
 * its own reply or error; against a Redis that stops answering without closing the connection a
 * request can wait up to twice `commandTimeout` before the limiter falls back, instead of once.
 */
import type { RedisOptions } from 'ioredis';

/** 500 ms per Redis command; a slow Redis must not stall token requests. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

export function authRedisOptions(): RedisOptions {
  return {
    // Fail fast while disconnected: the limiter then uses its local fallback.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    lazyConnect: false,
    enableAutoPipelining: true,
  };
}
