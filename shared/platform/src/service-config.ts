/**
 * Spec fragments for the variables every service reads the same way: listen address, NATS,
 * Redis, logging, shutdown grace and where the auth service publishes its keys. A service
 * spreads them into its `ConfigSpec` in the order it documents them; what differs per service
 * (default port, docs) is a parameter, so names, defaults and validation live in one place.
 * Every fragment is a fresh `as const` object, so `Config<typeof SPEC>` stays exact.
 */
import type { VarSpec } from './config.js';
import type { LogLevel } from './logger.js';

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
 * REDIS_URL (`redis:`, or `rediss:` for TLS; may carry `:password@` or `user:password@`, hence
 * secret: never logged) and REDIS_TLS_CA_FILE.
 */
export function redisConfig(doc?: string) {
  return {
    redisUrl: withDoc(
      { env: 'REDIS_URL', type: 'url', default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'], secret: true } as const,
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
