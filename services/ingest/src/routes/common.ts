/**
 * Pieces every ingest route shares: the validator compiler that runs ingest's own checks (so
 * errors carry ingest codes), a plain JSON serializer, the per-route error handler, the
 * per-tenant rate limit and the request's principal/logger.
 */
import type { RateLimitOptions } from '@fastify/rate-limit';
import { requirePrincipal, type BearerAuthHook, type ClientPrincipal } from '@orderwire/token-verifier';
import { OrderwireError, PLATFORM_ERRORS } from '@orderwire/platform';
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

/** Per-tenant limit; `group` separates write and read budgets. Runs after authentication. */
export function tenantRateLimit(deps: RouteDeps, group: 'write' | 'read', route: string): RateLimitOptions {
  const windowSeconds = Math.ceil(deps.rateLimit.windowMs / 1000);
  // The series exists from the start, so the rate-limit panels and alerts read 0, not "no data".
  deps.metrics.rateLimited.inc({ service: 'ingest', route }, 0);
  return {
    hook: 'preValidation',
    max: deps.rateLimit.max,
    timeWindow: deps.rateLimit.windowMs,
    keyGenerator: (request) => `${group}:${requirePrincipal(request).tenant}`,
    onExceeded: () => deps.metrics.rateLimited.inc({ service: 'ingest', route }),
    errorResponseBuilder: (request, context) =>
      INGEST_ERRORS.create(
        'ORDERWIRE_ERR_INGEST_RATE_LIMITED',
        { max: context.max, window: `${windowSeconds}s` },
        { details: { max: context.max, windowSeconds, retryAfterSeconds: Math.ceil(context.ttl / 1000) } },
      ),
  };
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
