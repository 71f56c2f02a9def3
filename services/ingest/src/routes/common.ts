/**
 * Pieces every ingest route shares: the validator compiler that runs ingest's own checks (so
 * errors carry ingest codes), a plain JSON serializer, the per-route error handler, the
 * per-tenant rate limit and the request's principal/logger.
 */
import type { RateLimitOptions } from '@fastify/rate-limit';
import { requirePrincipal, type BearerAuthHook, type ClientPrincipal } from '@orderwire/token-verifier';
import { OrderwireError, PLATFORM_ERRORS, type RateLimiter, type WindowCount } from '@orderwire/platform';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { Logger } from 'pino';
import { INGEST_ERRORS } from '../errors.js';
import type { Intake } from '../intake.js';
import type { IngestMetrics } from '../metrics.js';
import type { OrderPublisher } from '../order-publisher.js';
import type { OrderQuota } from '../order-quota.js';
import type { ReceiptStore } from '../receipt-store.js';
import { bindLog, type RequestLog } from '../request-log.js';
import type { Checked } from '../validation.js';

export interface RouteDeps {
  intake: Intake;
  publisher: OrderPublisher;
  receipts: ReceiptStore;
  metrics: IngestMetrics;
  /** `orders:write` / `orders:read` bearer hooks. */
  auth: { write: BearerAuthHook; read: BearerAuthHook };
  /** Runs before `auth`: refuses an address that failed authentication too often, unread (platform auth-guard). */
  gate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  quota: OrderQuota;
  /** The counters behind the rate limit and the quota (POST /v1/orders counts both in one call). */
  limiter: Pick<RateLimiter, 'hit' | 'hitAndTake'>;
  rateLimit: { max: number; windowMs: number };
  bodyLimit: number;
  batchBodyLimit: number;
}

/** Header and param parts are passed through: handlers check them with ingest's codes. */
const PASS = (): { value?: unknown } => ({});

/**
 * A validator compiler running `check` on the body (or params) instead of ajv: ingest's checks
 * report subject injection as INVALID_ID with the field, apply the schema's defaults and never
 * coerce types or silently drop unknown properties.
 */
export function validatorFor(part: 'body' | 'params', check: (data: unknown) => Checked<unknown>): FastifySchemaCompiler<unknown> {
  return ({ httpPart }) =>
    httpPart !== part
      ? PASS
      : (data: unknown) => {
          const result = check(data);
          return result.ok ? { value: result.value } : { error: result.error };
        };
}

/** Responses are built to match their schemas (tests check it); no field is dropped silently. */
export const jsonSerializer = (): ((data: unknown) => string) => (data) => JSON.stringify(data);

export function retryAfterSeconds(err: OrderwireError): number | undefined {
  const v = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof v === 'number' ? v : undefined;
}

/**
 * Route error handler: body-size errors get the route's real limit, refusals are counted, a 503
 * carries `Retry-After`; the platform's handler then renders the error shape.
 */
export function routeErrorHandler(intake: Intake, bodyLimit: number, countOrders: boolean) {
  return (err: FastifyError | OrderwireError, _request: FastifyRequest, reply: FastifyReply): never => {
    let mapped: unknown = err;
    if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // The platform's handler would quote the server-wide limit; this route has its own.
      mapped = PLATFORM_ERRORS.create('ORDERWIRE_ERR_PAYLOAD_TOO_LARGE', { limit: bodyLimit }, { cause: err, details: { limit: bodyLimit } });
    }
    if (mapped instanceof OrderwireError) {
      const counted = mapped.code.startsWith('ORDERWIRE_ERR_INGEST_') || mapped.code === 'ORDERWIRE_ERR_PAYLOAD_TOO_LARGE';
      // 429s (rate limit, quota, auth-failure gate) are refusals of the caller, not order outcomes.
      if (countOrders && counted && mapped.statusCode !== 429) intake.countError(mapped);
      const retryAfter = retryAfterSeconds(mapped);
      if (mapped.statusCode === 503 && retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    }
    throw mapped;
  };
}

/** The counted key of a tenant's write or read budget (the limiter's prefix goes in front). */
export const rateLimitKey = (group: 'write' | 'read', tenant: string): string => `${group}:${tenant}`;

function rateLimitedError(deps: RouteDeps, max: number, ttlMs: number): OrderwireError {
  const windowSeconds = Math.ceil(deps.rateLimit.windowMs / 1000);
  return INGEST_ERRORS.create(
    'ORDERWIRE_ERR_INGEST_RATE_LIMITED',
    { max, window: `${windowSeconds}s` },
    { details: { max, windowSeconds, retryAfterSeconds: Math.ceil(ttlMs / 1000) } },
  );
}

/** Per-tenant limit; `group` separates write and read budgets. Runs after authentication. */
export function tenantRateLimit(deps: RouteDeps, group: 'write' | 'read', route: string): RateLimitOptions {
  // The series exists from the start, so the rate-limit panels and alerts read 0, not "no data".
  deps.metrics.rateLimited.inc({ service: 'ingest', route }, 0);
  return {
    hook: 'preValidation',
    max: deps.rateLimit.max,
    timeWindow: deps.rateLimit.windowMs,
    keyGenerator: (request) => rateLimitKey(group, requirePrincipal(request).tenant),
    onExceeded: () => deps.metrics.rateLimited.inc({ service: 'ingest', route }),
    errorResponseBuilder: (_request, context) => rateLimitedError(deps, context.max, context.ttl),
  };
}

export interface WriteAdmission {
  /**
   * Counts a write request of `tenant` that is refused before its quota is taken (a bad body, a bad
   * idempotency key, an order too large): its rate-limit hit only.
   * @throws ORDERWIRE_ERR_INGEST_RATE_LIMITED over the limit (the caller answers that instead)
   */
  count(tenant: string, reply: FastifyReply): Promise<void>;
  /**
   * Counts the request and takes `cost` publishes from the tenant's order quota, in one Redis round trip.
   * @throws ORDERWIRE_ERR_INGEST_RATE_LIMITED | ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED
   */
  admit(tenant: string, cost: number, reply: FastifyReply): Promise<void>;
}

/**
 * The write rate limit of {@link tenantRateLimit} and the order quota counted together, for a route
 * that would otherwise make two Redis round trips per request (the plugin's hit, then the quota's
 * take — 21 % of ingest's CPU per order, issue 14). Same key, budget, decisions, metric and
 * response as the plugin's: `x-ratelimit-limit`, `-remaining`, `-reset` on every counted
 * request; over the limit `Retry-After` and ORDERWIRE_ERR_INGEST_RATE_LIMITED, the quota untouched.
 */
export function writeAdmission(deps: RouteDeps, route: string): WriteAdmission {
  deps.metrics.rateLimited.inc({ service: 'ingest', route }, 0);
  const { max, windowMs } = deps.rateLimit;
  /** What `@fastify/rate-limit` does with a count (index.js `rateLimitRequestHandler`, no ban). */
  function judge(counted: WindowCount, reply: FastifyReply): void {
    const reset = Math.ceil(counted.ttl / 1000);
    void reply.header('x-ratelimit-limit', max);
    if (counted.current <= max) {
      void reply.header('x-ratelimit-remaining', Math.max(0, max - counted.current));
      void reply.header('x-ratelimit-reset', reset);
      return;
    }
    deps.metrics.rateLimited.inc({ service: 'ingest', route });
    void reply.header('x-ratelimit-remaining', 0);
    void reply.header('x-ratelimit-reset', reset);
    void reply.header('retry-after', reset);
    throw rateLimitedError(deps, max, counted.ttl);
  }
  return {
    async count(tenant, reply) {
      judge(await deps.limiter.hit(rateLimitKey('write', tenant), windowMs), reply);
    },
    async admit(tenant, cost, reply) {
      const taken = deps.quota.spec(tenant, cost);
      const res = await deps.limiter.hitAndTake({ key: rateLimitKey('write', tenant), windowMs, max }, taken);
      judge(res.hit, reply);
      // judge threw unless the hit was within the limit, and then the quota was taken.
      deps.quota.settle(tenant, taken, res.take!, reply);
    },
  };
}

/** A body the route's validator refused: counted against the rate limit as the plugin's preValidation hook did. */
export function isBodyValidationError(err: unknown): boolean {
  return (err as { validationContext?: unknown } | null)?.validationContext === 'body';
}

export interface Caller {
  principal: ClientPrincipal;
  log: RequestLog;
}

/** The authenticated caller and the request's log carrying its ids (see request-log.ts: no pino child). */
export function caller(request: FastifyRequest, extra: Record<string, unknown> = {}): Caller {
  const principal = requirePrincipal(request);
  return { principal, log: bindLog(request.log as Logger, { tenant: principal.tenant, clientId: principal.clientId, ...extra }) };
}

/** Security requirement of a route for the OpenAPI document. */
export const security = (scope: string): Array<Record<string, string[]>> => [{ bearerAuth: [scope] }];
