/**
 * The DLQ HTTP API. The tenant always comes from the caller's token; an entry of another tenant is
 * indistinguishable from an unknown one (404).
 *
 * Inputs are checked here with DLQ codes rather than by Fastify's ajv: ajv's defaults would drop
 * unknown query parameters silently (`removeAdditional`) and coerce types, and a mistyped filter
 * must be a 400, not a list of everything.
 */
import { requirePrincipal } from '@orderwire/token-verifier';
import { isOrderwireError, type AuditAggregator, type Logger } from '@orderwire/platform';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isEntryId, viewOf, type Actor } from '../entry.js';
import { DLQ_ERRORS } from '../errors.js';
import type { DlqOperations } from '../operations.js';
import { FILTER_KEYS, parseFilter, parsePageRequest } from '../query.js';

/** Longest discard reason / replay note. */
export const NOTE_MAX = 500;

type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RouteDeps {
  ops: DlqOperations;
  /**
   * `onRequest` hooks of reads and actions, in order: the pre-auth failure gate, the bearer check
   * (`dlq:read` / `dlq:replay`), the per-tenant rate limit.
   */
  auth: { read: Hook[]; replay: Hook[] };
  /** DLQ reads are audited, aggregated (`dlq_reads`: one event per tenant/client/address per window). */
  audit: AuditAggregator;
  replayMax: number;
}

/** Aggregated audit event of DLQ reads (list and get). */
export const DLQ_READS_EVENT = 'dlq_reads';

function auditRead(deps: RouteDeps, request: FastifyRequest, operation: 'list' | 'get', entryId?: string): void {
  const p = requirePrincipal(request);
  deps.audit.note({
    event: DLQ_READS_EVENT,
    tenant: p.tenant,
    source: request.ip,
    actor: { type: 'client', id: p.clientId },
    reason: operation,
    sample: entryId,
  });
}

interface Caller {
  tenant: string;
  actor: Actor;
  log: Logger;
  requestId: string;
}

function caller(request: FastifyRequest, extra: Record<string, unknown> = {}): Caller {
  const p = requirePrincipal(request);
  return {
    tenant: p.tenant,
    actor: { type: 'client', id: p.clientId },
    log: request.log.child({ tenant: p.tenant, clientId: p.clientId, ...extra }) as Logger,
    requestId: request.id,
  };
}

function invalidRequest(reason: string, field?: string): Error {
  return DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_INVALID_REQUEST', { reason }, { details: field === undefined ? { reason } : { field, reason } });
}

function entryId(request: FastifyRequest): string {
  const { id } = request.params as { id?: unknown };
  if (!isEntryId(id)) {
    throw DLQ_ERRORS.create('ORDERWIRE_ERR_DLQ_INVALID_ID', { reason: 'an entry id is 24 lowercase hex characters' }, { details: { id } });
  }
  return id;
}

function queryOf(request: FastifyRequest): Record<string, unknown> {
  const q = request.query;
  return q !== null && typeof q === 'object' ? (q as Record<string, unknown>) : {};
}

function noQuery(request: FastifyRequest): void {
  const keys = Object.keys(queryOf(request));
  if (keys.length > 0) throw invalidRequest(`unknown query parameter(s): ${keys.join(', ')}`, keys[0]);
}

/** A JSON object body with only `allowed` keys; an absent body is `{}` when `optional`. */
function objectBody(request: FastifyRequest, allowed: readonly string[], optional: boolean): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null) {
    if (optional) return {};
    throw invalidRequest('a JSON body is required');
  }
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('the body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw invalidRequest(`unknown field(s): ${unknown.join(', ')}; known: ${allowed.join(', ') || '(none)'}`, unknown[0]);
  return body as Record<string, unknown>;
}

function text(field: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.trim().length === 0) throw invalidRequest(`${field} must be a non-empty string`, field);
  if (value.length > NOTE_MAX) throw invalidRequest(`${field} must be at most ${NOTE_MAX} characters`, field);
  return value.trim();
}

/** A 503 tells the caller when to come back; the platform's handler then renders the error shape. */
function errorHandler(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): never {
  if (isOrderwireError(err) && err.statusCode === 503) {
    const seconds = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (typeof seconds === 'number') void reply.header('retry-after', String(seconds));
  }
  throw err;
}

export function registerDlqRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { ops } = deps;
  const read = { onRequest: deps.auth.read, errorHandler };
  const act = { onRequest: deps.auth.replay, errorHandler };

  app.get('/v1/dlq', read, async (request) => {
    const c = caller(request);
    const q = queryOf(request);
    const { limit, cursor, ...rest } = q;
    const filter = parseFilter(rest);
    const pageReq = parsePageRequest({ limit, cursor });
    auditRead(deps, request, 'list');
    return ops.list(c.tenant, filter, pageReq);
  });

  app.get('/v1/dlq/:id', read, async (request) => {
    const id = entryId(request);
    noQuery(request);
    const c = caller(request, { entryId: id });
    // Attempts are audited, found or not: probing for entry ids is a read too.
    auditRead(deps, request, 'get', id);
    return viewOf(await ops.get(c.tenant, id));
  });

  app.post('/v1/dlq/:id/replay', act, async (request) => {
    const id = entryId(request);
    noQuery(request);
    const body = objectBody(request, ['note'], true);
    const note = text('note', body.note, false);
    const c = caller(request, { entryId: id });
    return ops.replay(c.tenant, id, { actor: c.actor, log: c.log, requestId: c.requestId, ...(note === undefined ? {} : { note }) });
  });

  app.post('/v1/dlq/replay', act, async (request) => {
    noQuery(request);
    const body = objectBody(request, ['filter', 'dryRun', 'max', 'note'], false);
    const rawFilter = body.filter;
    if (rawFilter === null || typeof rawFilter !== 'object' || Array.isArray(rawFilter)) {
      throw invalidRequest(`filter must be an object with any of ${FILTER_KEYS.join(', ')} ({} selects every open entry)`, 'filter');
    }
    const filter = parseFilter(rawFilter as Record<string, unknown>, { statuses: ['open', 'discarded'] });
    if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw invalidRequest('dryRun must be a boolean', 'dryRun');
    let max = deps.replayMax;
    if (body.max !== undefined) {
      if (typeof body.max !== 'number' || !Number.isInteger(body.max) || body.max < 1 || body.max > deps.replayMax) {
        throw invalidRequest(`max must be an integer from 1 to ${deps.replayMax}`, 'max');
      }
      max = body.max;
    }
    const note = text('note', body.note, false);
    const c = caller(request);
    return ops.replayMany(c.tenant, filter, {
      actor: c.actor,
      log: c.log,
      requestId: c.requestId,
      dryRun: body.dryRun === true,
      max,
      ...(note === undefined ? {} : { note }),
    });
  });

  app.delete('/v1/dlq/:id', act, async (request) => {
    const id = entryId(request);
    noQuery(request);
    const body = objectBody(request, ['reason'], false);
    const reason = text('reason', body.reason, true)!;
    const c = caller(request, { entryId: id });
    const entry = await ops.discard(c.tenant, id, reason, { actor: c.actor, log: c.log, requestId: c.requestId });
    return { entry };
  });
}
