/**
 * The Fastify base every HTTP service starts from: request ids, probes, /metrics, one error
 * shape, and a request-duration histogram labelled by route pattern (bounded cardinality).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { OrderwireError, PLATFORM_ERRORS, errorBody } from './errors.js';
import type { Health } from './health.js';
import type { Metrics } from './metrics.js';

/** Incoming `x-request-id` values are reused only if they look like an id (no log injection). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';
/** Request body limit when the service passes no `bodyLimit`. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Buckets of `orderwire_http_request_duration_seconds`, 1 ms … 10 s. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Route label of requests that matched no route (keeps scanners from minting series). */
export const UNMATCHED_ROUTE = '(unmatched)';

export interface CreateHttpServerOptions {
  logger: Logger;
  health: Health;
  metrics: Metrics;
  /** @default DEFAULT_BODY_LIMIT */
  bodyLimit?: number;
  /** Fastify `trustProxy` (true, or a comma-separated / array list of trusted addresses). @default false */
  trustProxy?: boolean | string | string[];
}

export function genRequestId(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  if (typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming)) return incoming;
  return randomUUID();
}

interface ValidationIssue {
  path: string;
  message: string;
  keyword?: string;
}

function validationDetails(err: FastifyError): { context?: string; issues: ValidationIssue[] } {
  const issues = (err.validation ?? []).map((v) => {
    const issue: ValidationIssue = { path: v.instancePath, message: v.message ?? 'invalid' };
    if (typeof v.keyword === 'string') issue.keyword = v.keyword;
    return issue;
  });
  return err.validationContext === undefined ? { issues } : { context: err.validationContext, issues };
}

/** Maps Fastify's own client errors (body parsing, limits) to catalogue errors. */
function fastifyClientError(err: FastifyError, bodyLimit: number, req: FastifyRequest): OrderwireError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return PLATFORM_ERRORS.create('ORDERWIRE_ERR_PAYLOAD_TOO_LARGE', { limit: bodyLimit });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return PLATFORM_ERRORS.create('ORDERWIRE_ERR_UNSUPPORTED_MEDIA_TYPE', {
        contentType: req.headers['content-type'] ?? '(none)',
      });
    default:
      break;
  }
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // e.g. malformed JSON, empty JSON body: the message describes the input, not our internals.
    return new OrderwireError('ORDERWIRE_ERR_BAD_REQUEST', `bad request: ${err.message}`, { statusCode: status, cause: err });
  }
  return undefined;
}

interface CodedError {
  code: string;
  statusCode: number;
  message: string;
  details?: unknown;
}

function isCodedError(err: unknown): err is CodedError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Partial<CodedError>;
  return (
    typeof e.code === 'string' &&
    e.code.startsWith('ORDERWIRE_ERR_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode <= 599
  );
}

export function createHttpServer(options: CreateHttpServerOptions): FastifyInstance {
  const { health, metrics } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    loggerInstance: options.logger,
    genReqId: genRequestId,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit,
    trustProxy: options.trustProxy ?? false,
    // Reject unknown fields instead of silently dropping them: a body that does not match
    // the contract must get a 400, never be "fixed" into something the caller did not send.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  }) as unknown as FastifyInstance;

  const duration = metrics.histogram({
    name: 'orderwire_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS,
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let mapped: OrderwireError;
    if (err instanceof OrderwireError) {
      mapped = err;
    } else if (isCodedError(err)) {
      // Errors of other shared packages (e.g. the token verifier's TokenError) carry a
      // stable code and a status of their own; keep both rather than turning them into 500s.
      mapped = new OrderwireError(err.code, err.message, { statusCode: err.statusCode, details: err.details, cause: err });
    } else if (err.validation !== undefined) {
      mapped = PLATFORM_ERRORS.create(
        'ORDERWIRE_ERR_VALIDATION',
        { reason: err.message },
        { details: validationDetails(err), cause: err },
      );
    } else {
      mapped = fastifyClientError(err, bodyLimit, request) ?? PLATFORM_ERRORS.create('ORDERWIRE_ERR_INTERNAL', {}, { cause: err });
    }
    if (mapped.statusCode >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: mapped.code, status: mapped.statusCode, msg: mapped.message }, 'request rejected');
    return reply.code(mapped.statusCode).type('application/json; charset=utf-8').send(errorBody(mapped));
  });

  app.setNotFoundHandler(async (request, reply) => {
    const err = PLATFORM_ERRORS.create('ORDERWIRE_ERR_NOT_FOUND', { method: request.method, url: request.url.split('?')[0] });
    return reply.code(err.statusCode).send(errorBody(err));
  });

  // Probes are polled every few seconds: keep them out of the info-level access log.
  app.get('/healthz', { logLevel: 'warn' }, async () => health.live());

  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    const report = await health.ready();
    return reply.code(report.ok ? 200 : 503).send(report);
  });

  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  return app;
}
