/**
 * Rate limits on the token and display endpoints, counted in Redis so every replica shares one
 * budget — with the platform's shared limiter (shared/platform/src/rate-limit.ts).
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
import { createRateLimiter, type Logger } from '@orderwire/platform';
import { AUTH_ERRORS } from './errors.js';
import type { AuthMetrics } from './metrics.js';

/** Redis key namespace of the counters. */
export const RATE_LIMIT_PREFIX = 'ow:auth:rl:';

export interface FailoverStoreOptions {
  redis: Redis;
  logger: Logger;
  metrics: AuthMetrics;
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
  const limiter = createRateLimiter({
    redis: options.redis,
    keyPrefix: RATE_LIMIT_PREFIX,
    logger: options.logger,
    onFallback: () => options.metrics.rateLimitFallbacks.inc(),
  });
  await app.register(fastifyRateLimit, { global: false, store: limiter.Store });
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
