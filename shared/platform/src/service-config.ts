/**
 * Spec fragments for the variables every service reads the same way: listen address, NATS,
 * Redis, logging, shutdown grace and where the auth service publishes its keys. A service
 * spreads them into its `ConfigSpec` in the order it documents them; what differs per service
 * (default port, docs) is a parameter, so names, defaults and validation live in one place.
 * Every fragment is a fresh `as const` object, so `Config<typeof SPEC>` stays exact.
 */
import type { VarSpec } from './config.js';
import {
  DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
  DEFAULT_HTTP_HEADERS_TIMEOUT_MS,
  DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
  type CreateHttpServerOptions,
} from './http.js';
import type { LogLevel } from './logger.js';
import { parseTrustedProxies } from './trusted-proxies.js';
import { DEFAULT_AUTH_FAILURE_MAX } from './rate-limit.js';

/** Levels LOG_LEVEL accepts: pino's, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];

/** Adds `doc` only when given, so an undocumented variable has no `doc` key at all. */
function withDoc<S extends VarSpec>(spec: S, doc: string | undefined): S {
  return doc === undefined ? spec : { ...spec, doc };
}

/** HOST and PORT of the service's HTTP listener; only the port's default differs per service. */
export function listenConfig(defaultPort: number, portDoc = 'listen port') {
  return {
    host: { env: 'HOST', type: 'string', default: '127.0.0.1', doc: 'listen address' },
    port: { env: 'PORT', type: 'int', default: defaultPort, min: 0, max: 65_535, doc: portDoc },
  } as const;
}

/**
 * NATS_URL (the servers to connect to, comma-separated) and the service's NATS identity and TLS.
 * Every identity variable is optional: unset, the service connects anonymously as local
 * development does. In production each service has its own NKEY seed (docs/deploy-images-and-identities.md).
 */
export function natsConfig() {
  return {
    natsUrl: { env: 'NATS_URL', type: 'string', default: 'nats://127.0.0.1:4222', doc: 'comma-separated NATS servers' },
    ...natsIdentityConfig(),
  } as const;
}

/** The identity and TLS part of {@link natsConfig}, for a spec that declares NATS_URL its own way. */
export function natsIdentityConfig() {
  return {
    natsUser: { env: 'NATS_USER', type: 'string', required: false, doc: 'NATS user name (with NATS_PASSWORD)' },
    natsPassword: { env: 'NATS_PASSWORD', type: 'string', required: false, secret: true, doc: 'NATS password of NATS_USER' },
    natsNkeySeedFile: {
      env: 'NATS_NKEY_SEED_FILE',
      type: 'string',
      required: false,
      doc: "file holding the service's NKEY seed (`SU…`), e.g. /var/run/secrets/orderwire/nats/seed",
    },
    natsTlsCaFile: { env: 'NATS_TLS_CA_FILE', type: 'string', required: false, doc: 'CA bundle (PEM) that signed the NATS servers; turns TLS on' },
    natsTlsCertFile: { env: 'NATS_TLS_CERT_FILE', type: 'string', required: false, doc: 'client certificate (PEM) for NATS mutual TLS' },
    natsTlsKeyFile: { env: 'NATS_TLS_KEY_FILE', type: 'string', required: false, doc: 'private key (PEM) of NATS_TLS_CERT_FILE' },
  } as const;
}

/**
 * REDIS_URL (`redis:`, or `rediss:` for TLS; may carry `:password@` or `user:password@`: logs and
 * errors show it with the credentials masked, so the host stays visible) and REDIS_TLS_CA_FILE.
 */
export function redisConfig(doc?: string) {
  return {
    redisUrl: withDoc(
      { env: 'REDIS_URL', type: 'url', default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'] } as const,
      doc,
    ),
    redisTlsCaFile: {
      env: 'REDIS_TLS_CA_FILE',
      type: 'string',
      required: false,
      doc: 'CA bundle (PEM) that signed the Redis server, for a `rediss:` REDIS_URL',
    },
  } as const;
}

/**
 * LOG_LEVEL and INSTANCE_ID: how much the process logs and the name it logs (and reports
 * metrics) under. INSTANCE_ID is optional; the service decides the fallback its doc names.
 */
export function logConfig(instanceDoc: string) {
  return {
    logLevel: { env: 'LOG_LEVEL', type: 'enum', values: LOG_LEVELS, default: 'info' },
    instanceId: { env: 'INSTANCE_ID', type: 'string', required: false, doc: instanceDoc },
  } as const;
}

/** SHUTDOWN_GRACE: the deadline for the whole shutdown sequence. */
export function shutdownConfig(doc?: string) {
  return {
    shutdownGraceMs: withDoc({ env: 'SHUTDOWN_GRACE', type: 'duration', default: '25s', min: '1s' } as const, doc),
  } as const;
}

/** AUTH_ISSUER: the `iss` the auth service signs with and every verifier expects. */
export function authIssuerConfig(doc: string) {
  return {
    issuer: { env: 'AUTH_ISSUER', type: 'string', default: 'orderwire-auth', doc },
  } as const;
}

/** AUTH_ISSUER and AUTH_JWKS_URL (`http:` or `https:`) of a service that verifies auth's tokens. */
export function authClientConfig(docs: { issuer: string; jwksUrl?: string }) {
  return {
    ...authIssuerConfig(docs.issuer),
    jwksUrl: withDoc(
      {
        env: 'AUTH_JWKS_URL',
        type: 'url',
        default: 'http://127.0.0.1:3001/.well-known/jwks.json',
        protocols: ['http', 'https'],
      } as const,
      docs.jwksUrl,
    ),
  } as const;
}

/** 0.0.0.0 — the admin port is reached by Prometheus and the kubelet from outside the pod. */
export const DEFAULT_ADMIN_HOST = '0.0.0.0';

/** Origins of `npm start`'s display web app (port 3005), the only browser caller in local development. */
export const LOCAL_DISPLAY_APP_ORIGINS = ['http://127.0.0.1:3005', 'http://localhost:3005'] as const;

/** An exact browser origin: scheme, host, optional port, nothing else. */
export const ORIGIN_PATTERN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:]+\](:\d{1,5})?$/;

/** TRUSTED_PROXIES: addresses/CIDRs (or loopback, linklocal, uniquelocal), comma-separated, or one hop count. */
const TRUSTED_PROXIES_PATTERN = /^\s*(\d+|none|[0-9A-Za-z.:/]+(\s*,\s*[0-9A-Za-z.:/]+)*)\s*$/;

/**
 * The HTTP hardening every service shares: timeouts, trusted proxies, the admin listener and
 * CORS. `corsOrigins` is the service's default (auth allows the local display app; the rest none).
 */
export function httpConfig(defaults: { corsOrigins?: readonly string[] } = {}) {
  return {
    httpRequestTimeoutMs: {
      env: 'HTTP_REQUEST_TIMEOUT',
      type: 'duration',
      default: DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
      min: '1s',
      max: '10m',
      doc: 'longest time to receive a whole request (headers and body); a slow-body client is cut after it',
    },
    httpHeadersTimeoutMs: {
      env: 'HTTP_HEADERS_TIMEOUT',
      type: 'duration',
      default: DEFAULT_HTTP_HEADERS_TIMEOUT_MS,
      min: '1s',
      max: '10m',
      doc: 'longest time to receive the request headers (capped at HTTP_REQUEST_TIMEOUT)',
    },
    httpKeepAliveTimeoutMs: {
      env: 'HTTP_KEEP_ALIVE_TIMEOUT',
      type: 'duration',
      default: DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      min: '1s',
      max: '10m',
      doc: 'idle keep-alive connections are closed after this; keep it above the proxy/balancer idle timeout',
    },
    httpConnectionTimeoutMs: {
      env: 'HTTP_CONNECTION_TIMEOUT',
      type: 'duration',
      default: DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
      min: 0,
      max: '1h',
      doc: 'a socket with no traffic at all is destroyed after this (0: never); upgraded websockets are not affected',
    },
    trustedProxies: {
      env: 'TRUSTED_PROXIES',
      type: 'string',
      required: false,
      pattern: TRUSTED_PROXIES_PATTERN,
      doc: 'proxies in front of the service: comma-separated addresses/CIDRs, or a hop count; the client address is the first untrusted X-Forwarded-For hop from the right (unset: the socket peer)',
    },
    adminPort: {
      env: 'ADMIN_PORT',
      type: 'int',
      required: false,
      min: 0,
      max: 65_535,
      doc: 'admin listener for /metrics and the detailed /readyz (unset: both on the public port)',
    },
    adminHost: { env: 'ADMIN_HOST', type: 'string', default: DEFAULT_ADMIN_HOST, doc: 'admin listener address (with ADMIN_PORT)' },
    corsOrigins: {
      env: 'CORS_ALLOWED_ORIGINS',
      type: 'list',
      default: defaults.corsOrigins ?? [],
      itemPattern: ORIGIN_PATTERN,
      doc: 'browser origins allowed by CORS, comma-separated exact origins (empty: no CORS)',
    },
  } as const;
}

/**
 * AUDIT_AGGREGATE_WINDOW and AUDIT_AGGREGATE_MAX_KEYS: how the aggregated audit events
 * (failed authentications, DLQ reads) are batched — see audit-aggregator.ts.
 */
export function auditAggregateConfig() {
  return {
    auditWindowMs: {
      env: 'AUDIT_AGGREGATE_WINDOW',
      type: 'duration',
      default: '1m',
      min: '1s',
      max: '1h',
      doc: 'one aggregated audit event per source per window',
    },
    auditMaxKeys: {
      env: 'AUDIT_AGGREGATE_MAX_KEYS',
      type: 'int',
      default: 1_000,
      min: 1,
      max: 1_000_000,
      doc: 'distinct sources per window before the overflow bucket',
    },
  } as const;
}

/** The fields `httpConfig()` adds to a loaded config. */
export interface HttpConfigValues {
  readonly httpRequestTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly httpConnectionTimeoutMs: number;
  readonly trustedProxies: string | undefined;
  readonly adminPort: number | undefined;
  readonly adminHost: string;
  readonly corsOrigins: readonly string[];
}

/**
 * Turns `httpConfig()` values into `createHttpServer` options (missing values: the base's defaults). `legacyTrustedProxies` is a
 * service's older variable (AUTH_TRUST_PROXY, EDGE_TRUST_PROXY), used only when TRUSTED_PROXIES is unset.
 * @throws ConfigError naming TRUSTED_PROXIES when it is not a list of addresses/CIDRs or a hop count.
 */
export function httpServerOptions(
  config: Partial<HttpConfigValues>,
  legacyTrustedProxies?: { env: string; value: string | readonly string[] | undefined },
): Pick<CreateHttpServerOptions, 'timeouts' | 'trustedProxies' | 'admin' | 'corsOrigins'> {
  const trustedProxies =
    config.trustedProxies === undefined && legacyTrustedProxies !== undefined
      ? parseTrustedProxies(legacyTrustedProxies.value, legacyTrustedProxies.env)
      : parseTrustedProxies(config.trustedProxies);
  return {
    timeouts: {
      requestTimeoutMs: config.httpRequestTimeoutMs,
      headersTimeoutMs: config.httpHeadersTimeoutMs,
      keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
      connectionTimeoutMs: config.httpConnectionTimeoutMs,
    },
    trustedProxies,
    corsOrigins: config.corsOrigins ?? [],
    ...(config.adminPort === undefined ? {} : { admin: { host: config.adminHost ?? DEFAULT_ADMIN_HOST, port: config.adminPort } }),
  };
}

/** AUTH_FAILURE_MAX and AUTH_FAILURE_WINDOW: the pre-authentication gate of an API (auth-guard.ts). */
export function authFailureGateConfig() {
  return {
    authFailureMax: {
      env: 'AUTH_FAILURE_MAX',
      type: 'int',
      // Generous: clients behind one NAT share an address, and a forged token costs one
      // signature check at most; 100 a minute per address is nothing for a CPU, a lot for a script.
      default: DEFAULT_AUTH_FAILURE_MAX,
      min: 1,
      doc: 'failed authentications per address per window before its requests are refused unread (429)',
    },
    authFailureWindowMs: { env: 'AUTH_FAILURE_WINDOW', type: 'duration', default: '1m', min: '1s', doc: 'window of AUTH_FAILURE_MAX' },
  } as const;
}
