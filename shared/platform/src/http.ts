/**
 * The Fastify base every HTTP service starts from: request ids, probes, /metrics, one error
 * shape, and a request-duration histogram labelled by route pattern (bounded cardinality).
 * Hardening lives here once for every service: request/headers/keep-alive/idle timeouts,
 * security headers (helmet's, computed once), explicit CORS (@fastify/cors, none unless configured),
 * the client address behind trusted proxies, and the optional admin listener that takes
 * /metrics and the detailed readiness report off the public port.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import cors from '@fastify/cors';
import helmet from 'helmet';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';
import { OrderwireError, PLATFORM_ERRORS, errorBody } from './errors.js';
import type { Health } from './health.js';
import type { Metrics } from './metrics.js';
import { parseTrustedProxies, type TrustedProxies } from './trusted-proxies.js';

/** Incoming `x-request-id` values are reused only if they look like an id (no log injection). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';
/** Request body limit when the service passes no `bodyLimit`. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Buckets of `orderwire_http_request_duration_seconds`, 1 ms … 10 s. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Route label of requests that matched no route (keeps scanners from minting series). */
export const UNMATCHED_ROUTE = '(unmatched)';

/** 30 s: the whole request, headers and body; a slow-body (slowloris) client is cut by it. */
export const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** 10 s: the request line and headers. */
export const DEFAULT_HTTP_HEADERS_TIMEOUT_MS = 10_000;
/**
 * @default 65 s: an idle keep-alive connection is closed after this. Above the 60 s idle timeout
 * of common proxies/balancers, so the proxy (not us) closes first and never reuses a dead socket.
 */
export const DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** 120 s: a socket with no traffic at all is destroyed (0 disables). */
export const DEFAULT_HTTP_CONNECTION_TIMEOUT_MS = 120_000;
/**
 * How often Node checks in-flight requests against the request and headers timeouts (Node's
 * own default is 30 s, which would let a slow client overstay its bound by that much).
 */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface HttpTimeouts {
  /** @default DEFAULT_HTTP_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
  /** @default DEFAULT_HTTP_HEADERS_TIMEOUT_MS (at most the request timeout) */
  headersTimeoutMs?: number;
  /** @default DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS */
  keepAliveTimeoutMs?: number;
  /** @default DEFAULT_HTTP_CONNECTION_TIMEOUT_MS */
  connectionTimeoutMs?: number;
}

/** The admin listener (ADMIN_PORT / ADMIN_HOST): /metrics and the detailed /readyz live only there. */
export interface AdminListenerOptions {
  host: string;
  /** 0 picks a free port (tests); `adminAddress(app)` tells which. */
  port: number;
}

export interface CreateHttpServerOptions {
  logger: Logger;
  health: Health;
  metrics: Metrics;
  /** @default DEFAULT_BODY_LIMIT */
  bodyLimit?: number;
  /**
   * Fastify `trustProxy` (true, or a comma-separated / array list of trusted addresses).
   * Superseded by `trustedProxies`, which wins when both are given. @default false
   */
  trustProxy?: boolean | string | string[];
  /** Proxies whose X-Forwarded-For hop is trusted (TRUSTED_PROXIES); `request.ip` is the client. */
  trustedProxies?: TrustedProxies;
  timeouts?: HttpTimeouts;
  /** Unset: everything on the public port (local default). Set: /metrics and detailed readiness move here. */
  admin?: AdminListenerOptions;
  /** Browser origins allowed by CORS (exact `scheme://host[:port]`). @default [] — no CORS headers at all */
  corsOrigins?: readonly string[];
}

/** The readiness answer of the public port when an admin listener holds the details. */
export interface PublicReadyReport {
  ok: boolean;
  state: 'starting' | 'running' | 'stopping';
}

const adminServers = new WeakMap<FastifyInstance, FastifyInstance>();

/** The admin listener's bound address, once the app is ready (undefined without ADMIN_PORT). */
export function adminAddress(app: FastifyInstance): AddressInfo | undefined {
  const admin = adminServers.get(app);
  const addr = admin?.server.address();
  return addr !== null && typeof addr === 'object' ? addr : undefined;
}

/**
 * Security headers of every response. The API answers JSON, so the policy is strict; it still
 * lets the Swagger UI at /docs (ingest) load its own scripts, styles and data: images.
 * No `upgrade-insecure-requests`: local development serves /docs over http.
 */
const HELMET_OPTIONS = {
  contentSecurityPolicy: {
    useDefaults: true,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'", "'unsafe-inline'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'frame-ancestors': ["'none'"],
      'form-action': ["'self'"],
      'upgrade-insecure-requests': null,
    },
  },
  frameguard: { action: 'deny' as const },
  // The display web app calls auth cross-origin with CORS; CORP only governs no-cors loads.
  crossOriginResourcePolicy: { policy: 'same-site' as const },
};

/**
 * The security headers, computed once. They are static (no CSP nonces), but @fastify/helmet
 * rebuilt helmet's middleware — parsing the CSP directives — on every request: 6 % of ingest's
 * CPU per order at 500/s (issue 14). Helmet itself decides the header set; this only runs it once
 * against a recording response.
 */
function staticSecurityHeaders(): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(HELMET_OPTIONS)({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
}
const SECURITY_HEADERS = staticSecurityHeaders();

/** Every response of `app` (routes, errors, 404) carries the security headers. */
function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (_request, reply) => {
    void reply.headers(SECURITY_HEADERS);
  });
}

/** Request headers a browser caller may send cross-origin. */
const CORS_ALLOWED_HEADERS = ['content-type', 'authorization', 'idempotency-key', 'x-request-id'];
/** Response headers a browser caller may read. */
/** 1 s: a replacement replica (or this one's successor) is normally ready by then. */
export const SHUTTING_DOWN_RETRY_AFTER_S = 1;
const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'];
/** 10 min: how long a browser may cache a preflight answer. */
const CORS_MAX_AGE_S = 600;

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

function trustProxyOption(options: CreateHttpServerOptions): boolean | string | string[] | ((addr: string, i: number) => boolean) {
  if (options.trustedProxies !== undefined) return options.trustedProxies.enabled ? options.trustedProxies.trust : false;
  const legacy = options.trustProxy ?? false;
  // A list of addresses goes through the same parser as TRUSTED_PROXIES (one implementation).
  if (typeof legacy === 'string' || Array.isArray(legacy)) {
    const parsed = parseTrustedProxies(legacy);
    return parsed.enabled ? parsed.trust : false;
  }
  return legacy;
}

const LOG_LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** The request's state on its lazy logger. */
const LAZY_STATE = Symbol('orderwire.lazyRequestLogger');
interface LazyState {
  parent: Logger;
  bindings: Bindings;
  options: ChildLoggerOptions;
  child?: Logger;
}
type LazyLogger = Logger & { [LAZY_STATE]: LazyState };

function realLogger(lazy: LazyLogger): Logger {
  const state = lazy[LAZY_STATE];
  return (state.child ??= state.parent.child(state.bindings, state.options));
}

/**
 * The methods every lazy logger of `parent` shares, made once per parent and level: a request's
 * lazy logger is then one object with its state, not four closures and property definitions.
 */
const lazyPrototypes = new WeakMap<Logger, { levelVal: number; proto: Logger }>();
function lazyPrototype(parent: Logger): Logger {
  const known = lazyPrototypes.get(parent);
  if (known !== undefined && known.levelVal === parent.levelVal) return known.proto;
  const proto = Object.create(parent) as Logger;
  for (const level of LOG_LEVELS) {
    if (!parent.isLevelEnabled(level)) continue;
    Object.defineProperty(proto, level, {
      value(this: LazyLogger, ...args: Parameters<Logger[Level]>) {
        realLogger(this)[level](...args);
      },
      writable: true,
      configurable: true,
    });
  }
  proto.child = function (this: LazyLogger, more, moreOptions) {
    return realLogger(this).child(more, moreOptions);
  };
  proto.bindings = function (this: LazyLogger) {
    return realLogger(this).bindings();
  };
  proto.setBindings = function (this: LazyLogger, more) {
    realLogger(this).setBindings(more);
  };
  lazyPrototypes.set(parent, { levelVal: parent.levelVal, proto });
  return proto;
}

/**
 * Fastify's per-request logger (the one carrying the request id), made when the request first
 * writes a line. pino's `child()` serializes and redacts its bindings when it is created — on
 * every request, though most write nothing at LOG_LEVEL warn (1–3 % of ingest's CPU per order,
 * issue 14). Until then an object in front of the parent answers: the levels that are off are the
 * parent's own no-ops; the levels that are on, `child` and `bindings` make the real child first
 * and use it, so every line written carries the request id as before.
 */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  const parent = logger as Logger;
  const lazy = Object.create(lazyPrototype(parent)) as LazyLogger;
  lazy[LAZY_STATE] = { parent, bindings, options };
  return lazy;
}
export function createHttpServer(options: CreateHttpServerOptions): FastifyInstance {
  const { health, metrics } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const requestTimeout = options.timeouts?.requestTimeoutMs ?? DEFAULT_HTTP_REQUEST_TIMEOUT_MS;
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(options.timeouts?.headersTimeoutMs ?? DEFAULT_HTTP_HEADERS_TIMEOUT_MS, requestTimeout);
  const app = Fastify({
    loggerInstance: options.logger,
    childLoggerFactory: lazyRequestLogger,
    genReqId: genRequestId,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // Requests that reach a closing server get the error shape with Retry-After (onRequest below).
    return503OnClosing: false,
    bodyLimit,
    trustProxy: trustProxyOption(options),
    requestTimeout,
    keepAliveTimeout: options.timeouts?.keepAliveTimeoutMs ?? DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    connectionTimeout: options.timeouts?.connectionTimeoutMs ?? DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_INTERVAL_MS },
    // Reject unknown fields instead of silently dropping them: a body that does not match
    // the contract must get a 400, never be "fixed" into something the caller did not send.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  }) as unknown as FastifyInstance;
  // Fastify sets requestTimeout itself; the headers timeout is Node's alone.
  app.server.headersTimeout = headersTimeout;

  const corsOrigins = options.corsOrigins ?? [];
  if (corsOrigins.length > 0) {
    void app.register(cors, {
      origin: [...corsOrigins],
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      credentials: false,
      maxAge: CORS_MAX_AGE_S,
    });
  }

  const duration = metrics.histogram({
    name: 'orderwire_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS,
  });

  // A closing server still receives requests on connections kept alive before the close (a
  // client, or a proxy, that has not seen the `Connection: close` yet). Fastify's own answer to
  // them is a bare 503; ours carries the error shape and `Retry-After`, so an upstream retries
  // (on another replica or on this one's successor) instead of counting a failure.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Every request runs these two hooks: callback style, with the security headers in the same
  // hook, because an async hook costs Fastify a promise and its continuations per request.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.headers(SECURITY_HEADERS);
    void reply.header(REQUEST_ID_HEADER, request.id);
    if (closing) {
      const err = PLATFORM_ERRORS.create('ORDERWIRE_ERR_SHUTTING_DOWN', {});
      void reply.header('connection', 'close').header('retry-after', String(SHUTTING_DOWN_RETRY_AFTER_S));
      // An answer sent from a callback hook ends the request: `done` must not be called too.
      void reply.code(err.statusCode).send(errorBody(err));
      return;
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
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

  if (options.admin === undefined) {
    registerOperatorRoutes(app, health, metrics);
    return app;
  }

  // Public port: probes only, and readiness without the per-dependency details (which name
  // internal hosts and failure messages). Everything else for operators is on the admin port.
  app.get('/healthz', { logLevel: 'warn' }, async () => health.live());
  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    const report = await health.ready();
    const brief: PublicReadyReport = { ok: report.ok, state: report.state };
    return reply.code(report.ok ? 200 : 503).send(brief);
  });

  const adminOptions = options.admin;
  const admin = Fastify({
    loggerInstance: options.logger.child({ listener: 'admin' }),
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    genReqId: genRequestId,
    requestTimeout,
    connectionTimeout: options.timeouts?.connectionTimeoutMs ?? DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_INTERVAL_MS },
  }) as unknown as FastifyInstance;
  addSecurityHeaders(admin);
  admin.setNotFoundHandler(async (request, reply) => {
    const err = PLATFORM_ERRORS.create('ORDERWIRE_ERR_NOT_FOUND', { method: request.method, url: request.url.split('?')[0] });
    return reply.code(err.statusCode).send(errorBody(err));
  });
  registerOperatorRoutes(admin, health, metrics);
  adminServers.set(app, admin);
  // The admin listener lives and dies with the public app: it listens when the app becomes
  // ready (a port clash fails the service's start), and closes with it.
  app.addHook('onReady', async () => {
    await admin.listen({ host: adminOptions.host, port: adminOptions.port });
    options.logger.info({ host: adminOptions.host, port: adminAddress(app)?.port }, 'admin listener ready');
  });
  app.addHook('onClose', async () => {
    await admin.close();
  });
  return app;
}

/** /healthz, the detailed /readyz and /metrics. Probes are polled every few seconds: kept out of the info-level access log. */
function registerOperatorRoutes(app: FastifyInstance, health: Health, metrics: Metrics): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => health.live());

  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    const report = await health.ready();
    return reply.code(report.ok ? 200 : 503).send(report);
  });

  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
