/**
 * Errors with stable codes. Every area declares one catalogue (`defineErrors`) mapping
 * `ORDERWIRE_ERR_<AREA>_<WHAT>` to an HTTP status and a message template; the HTTP layer turns
 * any `OrderwireError` into `{ error: { code, message, details? } }`.
 */

export interface OrderwireErrorOptions {
  /** HTTP status the error maps to. @default 500 */
  statusCode?: number;
  /** Machine-readable extra data returned to the caller — never put secrets here. */
  details?: unknown;
  cause?: unknown;
}

/** An error without a status is the server's fault until proven otherwise. */
export const DEFAULT_ERROR_STATUS = 500;

export class OrderwireError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details?: unknown;

  constructor(code: string, message: string, options: OrderwireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OrderwireError';
    this.code = code;
    this.statusCode = options.statusCode ?? DEFAULT_ERROR_STATUS;
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isOrderwireError(err: unknown): err is OrderwireError {
  return err instanceof OrderwireError;
}

export interface ErrorSpec {
  /** HTTP status, 400–599. */
  status: number;
  /** Message template; `{name}` is replaced by `params.name`. */
  message: string;
}

export type ErrorCatalog = Record<string, ErrorSpec>;

export type ErrorParams = Record<string, string | number | boolean | bigint | null | undefined>;

export interface CreateErrorOptions {
  details?: unknown;
  cause?: unknown;
}

export interface DefinedErrors<C extends ErrorCatalog> {
  readonly codes: readonly (keyof C & string)[];
  readonly catalog: Readonly<C>;
  create(code: keyof C & string, params?: ErrorParams, options?: CreateErrorOptions): OrderwireError;
  /** True when `err` is an OrderwireError carrying one of this catalogue's codes (or `code`). */
  is(err: unknown, code?: keyof C & string): err is OrderwireError;
}

const CODE_RE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;
const PLACEHOLDER_RE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `{name}` placeholders with `params.name`. A placeholder without a param stays
 * verbatim, so a forgotten param shows up in the message instead of silently vanishing.
 */
export function interpolate(template: string, params: ErrorParams = {}): string {
  return template.replace(PLACEHOLDER_RE, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

/** Declares a catalogue of error codes; throws at module load if a code or status is malformed. */
export function defineErrors<const C extends ErrorCatalog>(catalog: C): DefinedErrors<C> {
  const codes = Object.keys(catalog) as (keyof C & string)[];
  for (const code of codes) {
    const spec = catalog[code]!;
    if (!CODE_RE.test(code)) {
      throw new TypeError(`error code ${code} must be UPPER_SNAKE_CASE with at least two words`);
    }
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) {
      throw new TypeError(`error code ${code} has status ${spec.status}; must be an integer in 400–599`);
    }
  }
  const frozenCatalog = Object.freeze(
    Object.fromEntries(codes.map((c) => [c, Object.freeze({ ...catalog[c]! })])),
  ) as unknown as Readonly<C>;
  const codeSet = new Set<string>(codes);
  return Object.freeze({
    codes: Object.freeze([...codes]),
    catalog: frozenCatalog,
    create(code: keyof C & string, params?: ErrorParams, options: CreateErrorOptions = {}): OrderwireError {
      const spec = frozenCatalog[code];
      if (spec === undefined) throw new TypeError(`unknown error code ${String(code)}`);
      return new OrderwireError(code, interpolate(spec.message, params), {
        statusCode: spec.status,
        details: options.details,
        cause: options.cause,
      });
    },
    is(err: unknown, code?: keyof C & string): err is OrderwireError {
      if (!(err instanceof OrderwireError)) return false;
      return code === undefined ? codeSet.has(err.code) : err.code === code;
    },
  });
}

/** Errors raised by the platform itself (config, topology, shutdown, HTTP base). */
export const PLATFORM_ERRORS = defineErrors({
  ORDERWIRE_ERR_CONFIG_INVALID: { status: 500, message: 'invalid configuration: {summary}' },
  ORDERWIRE_ERR_TOPOLOGY_CONFLICT: {
    status: 500,
    message: 'jetstream {kind} {name} conflicts with its declaration in {field}, which cannot be changed in place: {summary}',
  },
  ORDERWIRE_ERR_TOPOLOGY_FAILED: { status: 500, message: 'could not ensure {kind} {name}: {reason}' },
  ORDERWIRE_ERR_TOPOLOGY_CONSUMER_OWNER: {
    status: 409,
    message: 'consumer {name} belongs to {owner}, not to tenant {tenant} display {displayId}; it was left unchanged',
  },
  ORDERWIRE_ERR_TOPOLOGY_MISMATCH: {
    status: 503,
    message: 'jetstream topology does not provide what {service} needs: {summary} (the topology owner applies it: orderwire-auth topology apply)',
  },
  ORDERWIRE_ERR_TOPOLOGY_NO_ORDER_STREAM: {
    status: 503,
    message: 'no order stream owns virtual partition {vp} right now (a partition move is in progress, or the topology is not applied); retry',
  },
  ORDERWIRE_ERR_TOPOLOGY_LEGACY_ORDERS: {
    status: 409,
    message:
      'the legacy stream ORDERS still captures {subjects}, which overlaps the order partition streams; adopt it with `orderwire-auth topology repartition` (docs/topology.md#changing-the-partition-count), which moves it aside and drains it',
  },
  ORDERWIRE_ERR_TOPOLOGY_PARTITIONS: {
    status: 409,
    message:
      'the order streams on the server ({found}) do not match the declared {declared} partition streams; ensureTopology never moves partitions: run `orderwire-auth topology repartition --partitions {declared}` (docs/topology.md#changing-the-partition-count)',
  },
  ORDERWIRE_ERR_SNAPSHOT_FAILED: { status: 500, message: 'snapshot of stream {stream} failed: {reason}' },
  ORDERWIRE_ERR_RESTORE_FAILED: { status: 500, message: 'restore of stream {stream} failed: {reason}' },
  ORDERWIRE_ERR_RESTORE_STREAM_EXISTS: {
    status: 409,
    message: 'stream {stream} already exists on the server; restore refuses to overwrite it unless told to replace it',
  },
  ORDERWIRE_ERR_PACKAGE_VERSION: { status: 500, message: 'cannot read the package version: {reason}' },
  ORDERWIRE_ERR_SHUTDOWN_TIMEOUT: { status: 500, message: 'shutdown exceeded {deadlineMs} ms; step {step} did not finish' },
  ORDERWIRE_ERR_RECEIPT_CONFLICT: { status: 503, message: 'receipt {subject} ({status}) lost every compare-and-set round to other writers' },
  ORDERWIRE_ERR_EXPIRED_NOTICE_CONFLICT: { status: 503, message: 'expired-order notice {key} lost every compare-and-set round to other writers' },
  ORDERWIRE_ERR_NATS_CONNECT: { status: 503, message: 'could not connect to NATS at {servers}: {reason}' },
  ORDERWIRE_ERR_METRIC_NAME: { status: 500, message: 'metric name {name} is invalid: {reason}' },
  ORDERWIRE_ERR_HEALTH_CHECK_DUPLICATE: { status: 500, message: 'health check {name} is already registered' },
  ORDERWIRE_ERR_VALIDATION: { status: 400, message: 'request validation failed: {reason}' },
  ORDERWIRE_ERR_BAD_REQUEST: { status: 400, message: 'bad request: {reason}' },
  ORDERWIRE_ERR_NOT_FOUND: { status: 404, message: 'route {method} {url} not found' },
  ORDERWIRE_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'request body exceeds {limit} bytes' },
  ORDERWIRE_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content type {contentType}' },
  ORDERWIRE_ERR_INTERNAL: { status: 500, message: 'internal server error' },
  ORDERWIRE_ERR_SHUTTING_DOWN: { status: 503, message: 'this instance is shutting down; retry (Retry-After)' },
  ORDERWIRE_ERR_TOO_MANY_AUTH_FAILURES: {
    status: 429,
    message: 'too many failed authentications from this address; retry after {after}',
  },
  ORDERWIRE_ERR_KV_SYNC_TIMEOUT: { status: 503, message: 'KV bucket {bucket} was not read within {timeoutMs} ms' },
});

export type PlatformErrorCode = (typeof PLATFORM_ERRORS.codes)[number];

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/**
 * The one HTTP error shape. Anything that is not an OrderwireError becomes a generic
 * internal error: its message may carry internals (SQL, paths, stack) and is never exposed.
 */
export function errorBody(err: unknown): ErrorBody {
  if (err instanceof OrderwireError) {
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.details !== undefined) body.error.details = err.details;
    return body;
  }
  const internal = PLATFORM_ERRORS.catalog.ORDERWIRE_ERR_INTERNAL;
  return { error: { code: 'ORDERWIRE_ERR_INTERNAL', message: internal.message } };
}
