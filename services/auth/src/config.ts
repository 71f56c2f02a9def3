/**
 * The only place the auth service reads `process.env`. Everything is validated once at start;
 * cross-variable rules (rotation interval vs token lifetimes, KEK length) are checked here too,
 * so a bad deployment fails before it serves a single token.
 */
import {
  auditAggregateConfig,
  authIssuerConfig,
  ConfigError,
  DEFAULT_DISPLAY_ACK_WAIT_MS,
  DEFAULT_DISPLAY_MAX_ACK_PENDING,
  DEFAULT_DISPLAY_MAX_DELIVER,
  defaultInstanceId,
  httpConfig,
  listenConfig,
  LOCAL_DISPLAY_APP_ORIGINS,
  loadConfig,
  logConfig,
  natsConfig,
  parseDuration,
  redisConfig,
  shutdownConfig,
  loadTopologyConfig,
  type ConfigProblem,
  type HttpConfigValues,
  type TopologyConfig,
  type TopologyLifetimes,
  type NatsIdentityConfig,
} from '@orderwire/platform';

/** The port of the external contract (docs/auth.md). */
export const DEFAULT_AUTH_PORT = 3001;
/**
 * @default 16 KiB — the largest auth body (a display registration: 20 stations, a 200-character
 * label, JSON-escaped) is under 3 KiB; nothing here needs the platform's 1 MiB.
 */
export const DEFAULT_AUTH_BODY_LIMIT = 16 * 1024;

export const AUTH_CONFIG_SPEC = {
  ...listenConfig(DEFAULT_AUTH_PORT),
  ...natsConfig(),
  ...redisConfig(),
  ...logConfig('instance name (default hostname-pid)'),
  ...shutdownConfig(),
  ...authIssuerConfig('`iss` of every token'),
  // The display web app enrolls and refreshes from the browser: allow its local origins by default.
  ...httpConfig({ corsOrigins: LOCAL_DISPLAY_APP_ORIGINS }),
  bodyLimit: {
    env: 'AUTH_BODY_LIMIT',
    type: 'int',
    default: DEFAULT_AUTH_BODY_LIMIT,
    min: 1024,
    max: 1024 * 1024,
    doc: 'max bytes of any request body; larger bodies get 413',
  },
  jwksUrl: {
    env: 'AUTH_JWKS_URL',
    type: 'url',
    default: 'http://127.0.0.1:3001/.well-known/jwks.json',
    doc: 'public JWKS URL (written into dev credentials)',
  },
  kek: {
    env: 'AUTH_KEK',
    type: 'string',
    secret: true,
    doc: 'base64 of 32 random bytes; encrypts signing keys at rest',
  },
  kekPrevious: {
    env: 'AUTH_KEK_PREVIOUS',
    type: 'string',
    secret: true,
    required: false,
    doc: 'the KEK being rotated out; keys encrypted with it stay readable until `keys rekey`',
  },
  displayTokenTtlMs: { env: 'AUTH_DISPLAY_TOKEN_TTL', type: 'duration', default: '15m', min: '1s', max: '24h' },
  clientTokenTtlMs: { env: 'AUTH_CLIENT_TOKEN_TTL', type: 'duration', default: '15m', min: '1s', max: '24h' },
  refreshTtlMs: {
    env: 'AUTH_REFRESH_TTL',
    type: 'duration',
    default: '30d',
    min: '1m',
    max: '365d',
    doc: 'absolute lifetime of a refresh-token family from enrollment',
  },
  refreshRetryGraceMs: {
    env: 'AUTH_REFRESH_RETRY_GRACE',
    type: 'duration',
    default: '30s',
    min: 0,
    doc: 'how long after a rotation the previous refresh token may be retried once (lost response); 0 disables; <= display token TTL (unset: min(30s, display token TTL))',
  },
  enrollmentTtlMs: { env: 'AUTH_ENROLLMENT_TTL', type: 'duration', default: '15m', min: '1s', max: '30d' },
  keyRotationIntervalMs: {
    env: 'AUTH_KEY_ROTATION_INTERVAL',
    type: 'duration',
    default: '24h',
    min: '1s',
    doc: 'how long a key is current; must be >= both access-token TTLs and the JWKS max-age',
  },
  keyRotationCheckMs: {
    env: 'AUTH_KEY_ROTATION_CHECK',
    type: 'duration',
    default: '30s',
    min: '100ms',
    doc: 'how often the rotation leader checks whether a rotation is due',
  },
  leaseTtlMs: {
    env: 'AUTH_LEASE_TTL',
    type: 'duration',
    default: '30s',
    min: '1s',
    doc: 'rotation-leader lease; another replica takes over this long after the leader dies',
  },
  jwksMaxAgeSeconds: {
    env: 'AUTH_JWKS_MAX_AGE',
    type: 'int',
    default: 300,
    min: 0,
    max: 86_400,
    doc: 'Cache-Control max-age of the JWKS in seconds',
  },
  scryptLogN: {
    env: 'AUTH_SCRYPT_LOG_N',
    type: 'int',
    default: 15,
    min: 10,
    max: 20,
    doc: 'scrypt cost for new client secrets (N = 2^value); existing hashes keep their stored cost',
  },
  trustProxy: {
    env: 'AUTH_TRUST_PROXY',
    type: 'string',
    default: 'false',
    pattern: /^(true|false|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/,
    doc: 'deprecated, use TRUSTED_PROXIES (which wins when set): false, true (= 1 hop), or addresses/CIDRs',
  },
  consumerAckWaitMs: {
    env: 'AUTH_CONSUMER_ACK_WAIT',
    type: 'duration',
    default: DEFAULT_DISPLAY_ACK_WAIT_MS,
    min: '1s',
    max: '12h',
    doc: "display consumers' ack_wait: how long a delivery held by a dead edge waits before redelivery; must exceed the edges' EDGE_ACK_TIMEOUT + EDGE_JS_ACK_TIMEOUT",
  },
  consumerMaxAckPending: {
    env: 'AUTH_CONSUMER_MAX_ACK_PENDING',
    type: 'int',
    default: DEFAULT_DISPLAY_MAX_ACK_PENDING,
    min: 1,
    max: 100_000,
    doc: 'unacked deliveries per display consumer',
  },
  consumerMaxDeliver: {
    env: 'AUTH_CONSUMER_MAX_DELIVER',
    type: 'int',
    default: DEFAULT_DISPLAY_MAX_DELIVER,
    min: 2,
    max: 10_000,
    doc: 'deliveries of one message before the max-deliveries advisory sends it to the DLQ',
  },
  consumerBackoff: {
    env: 'AUTH_CONSUMER_BACKOFF',
    type: 'list',
    required: false,
    doc: 'comma-separated redelivery delays (e.g. 20s,1m,5m); the first replaces ack_wait; fewer entries than max deliver',
  },
  rateLimitWindowMs: { env: 'AUTH_RATE_LIMIT_WINDOW', type: 'duration', default: '1m', min: '1s' },
  rateLimitTokenPerClient: { env: 'AUTH_RATE_LIMIT_TOKEN_PER_CLIENT', type: 'int', default: 30, min: 1 },
  rateLimitTokenPerIp: { env: 'AUTH_RATE_LIMIT_TOKEN_PER_IP', type: 'int', default: 120, min: 1 },
  rateLimitEnrollPerIp: { env: 'AUTH_RATE_LIMIT_ENROLL_PER_IP', type: 'int', default: 30, min: 1 },
  rateLimitRefreshPerIp: {
    env: 'AUTH_RATE_LIMIT_REFRESH_PER_IP',
    type: 'int',
    default: 1_200,
    min: 1,
    doc: 'a store’s displays share one NAT address, so this is higher than the others',
  },
  rateLimitDisplaysPerIp: {
    env: 'AUTH_RATE_LIMIT_DISPLAYS_PER_IP',
    type: 'int',
    // Provisioning scripts register fleets from one address: 50/s, yet an anonymous flood is capped.
    default: 3_000,
    min: 1,
    doc: 'requests to the display management routes (/v1/displays, /v1/displays/:id) per address per window, before authentication',
  },
  tenantMaxDisplays: {
    env: 'AUTH_TENANT_MAX_DISPLAYS',
    type: 'int',
    // Above the 10,000 displays one edge node is built to hold.
    default: 20_000,
    min: 1,
    doc: 'displays one tenant may register, unless its tenant record sets quotas.maxDisplays',
  },
  ...auditAggregateConfig(),
} as const;

export interface AuthConfig extends HttpConfigValues {
  readonly host: string;
  readonly port: number;
  readonly natsUrl: string;
  /** NATS_USER / NATS_PASSWORD / NATS_NKEY_SEED_FILE / NATS_TLS_*: auth's NATS identity. */
  readonly natsIdentity: NatsIdentityConfig;
  readonly redisUrl: string;
  readonly redisTlsCaFile: string | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly instanceId: string;
  readonly shutdownGraceMs: number;
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Decoded AUTH_KEK (32 bytes). */
  readonly kek: Buffer;
  readonly kekPrevious: Buffer | undefined;
  readonly displayTokenTtlMs: number;
  readonly clientTokenTtlMs: number;
  readonly refreshTtlMs: number;
  /** Retry grace for the previous refresh token after a lost response; 0 = strict reuse detection. */
  readonly refreshRetryGraceMs: number;
  readonly enrollmentTtlMs: number;
  readonly keyRotationIntervalMs: number;
  readonly keyRotationCheckMs: number;
  readonly leaseTtlMs: number;
  readonly jwksMaxAgeSeconds: number;
  readonly scryptLogN: number;
  /** AUTH_TRUST_PROXY (deprecated): used only when TRUSTED_PROXIES is unset. */
  readonly trustProxy: boolean | string[];
  readonly bodyLimit: number;
  /** Applied to display consumers when a display is registered or re-registered. */
  readonly consumer: {
    readonly ackWaitMs: number;
    readonly maxAckPending: number;
    readonly maxDeliver: number;
    /** Redelivery delays in ms; undefined = ack_wait each time. */
    readonly backoffMs: readonly number[] | undefined;
  };
  readonly rateLimit: {
    readonly windowMs: number;
    readonly tokenPerClient: number;
    readonly tokenPerIp: number;
    readonly enrollPerIp: number;
    readonly refreshPerIp: number;
    readonly displaysPerIp: number;
  };
  /** Default of a tenant's display quota (a tenant record's `quotas.maxDisplays` overrides it). */
  readonly tenantMaxDisplays: number;
  /** Aggregated audit events (failed authentications): window and distinct keys per window. */
  readonly audit: { readonly windowMs: number; readonly maxKeys: number };
}

const KEK_BYTES = 32;
const BASE64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decodeKek(raw: string): Buffer | undefined {
  const text = raw.trim();
  if (!BASE64_RE.test(text)) return undefined;
  const buf = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  return buf.length === KEK_BYTES ? buf : undefined;
}

function parseTrustProxy(text: string): boolean | string[] {
  if (text === 'true' || text === 'false') return text === 'true';
  return text.split(',').map((s) => s.trim());
}

/** AUTH_CONSUMER_BACKOFF: each item a duration >= 1 s, fewer items than max deliver. */
function parseBackoff(items: readonly string[] | undefined, maxDeliver: number, problems: ConfigProblem[]): number[] | undefined {
  if (items === undefined || items.length === 0) return undefined;
  const env = 'AUTH_CONSUMER_BACKOFF';
  const out: number[] = [];
  for (const item of items) {
    const ms = parseDuration(item);
    if (ms === undefined || ms < 1000) {
      problems.push({ key: 'consumerBackoff', env, reason: `each delay must be a duration of at least 1s (got "${item}")` });
      return undefined;
    }
    out.push(ms);
  }
  if (out.length >= maxDeliver) {
    problems.push({ key: 'consumerBackoff', env, reason: `must have fewer entries than AUTH_CONSUMER_MAX_DELIVER (${maxDeliver})` });
    return undefined;
  }
  return Object.freeze(out) as number[];
}

/**
 * Loads and validates the auth configuration.
 * @throws ConfigError naming every bad variable.
 */
export function loadAuthConfig(env: Readonly<Record<string, string | undefined>> = process.env): AuthConfig {
  const c = loadConfig(AUTH_CONFIG_SPEC, env);
  const problems: ConfigProblem[] = [];
  const kek = decodeKek(c.kek);
  if (kek === undefined) problems.push({ key: 'kek', env: 'AUTH_KEK', reason: `must be base64 of exactly ${KEK_BYTES} bytes` });
  let kekPrevious: Buffer | undefined;
  if (c.kekPrevious !== undefined) {
    kekPrevious = decodeKek(c.kekPrevious);
    if (kekPrevious === undefined) {
      problems.push({ key: 'kekPrevious', env: 'AUTH_KEK_PREVIOUS', reason: `must be base64 of exactly ${KEK_BYTES} bytes` });
    }
  }
  // A key retired from `current` stays published as `previous` for one interval; every token
  // it signed must have expired by then, so the interval must cover the longest access TTL.
  const longestTtl = Math.max(c.displayTokenTtlMs, c.clientTokenTtlMs);
  if (c.keyRotationIntervalMs < longestTtl) {
    problems.push({
      key: 'keyRotationIntervalMs',
      env: 'AUTH_KEY_ROTATION_INTERVAL',
      reason: `must be >= the longest access-token TTL (${longestTtl} ms), or tokens outlive their key in the JWKS`,
    });
  }
  // `next` is published one interval before it signs; verifiers caching the JWKS for max-age
  // must see it before its first token arrives.
  if (c.keyRotationIntervalMs < c.jwksMaxAgeSeconds * 1000) {
    problems.push({
      key: 'keyRotationIntervalMs',
      env: 'AUTH_KEY_ROTATION_INTERVAL',
      reason: `must be >= AUTH_JWKS_MAX_AGE (${c.jwksMaxAgeSeconds} s), or verifiers may not have cached the next key`,
    });
  }
  // The grace exists for one lost response, which the display retries within seconds; a window
  // longer than an access token's life would keep a stolen previous token useful for longer
  // than anything else the family ever issued.
  // Unset, the grace follows short display-token TTLs down (tests, demos); only an explicit
  // value longer than the TTL is a configuration error.
  const graceExplicit = (env.AUTH_REFRESH_RETRY_GRACE ?? '') !== '';
  const refreshRetryGraceMs = graceExplicit ? c.refreshRetryGraceMs : Math.min(c.refreshRetryGraceMs, c.displayTokenTtlMs);
  if (refreshRetryGraceMs > c.displayTokenTtlMs) {
    problems.push({
      key: 'refreshRetryGraceMs',
      env: 'AUTH_REFRESH_RETRY_GRACE',
      reason: `must be <= AUTH_DISPLAY_TOKEN_TTL (${c.displayTokenTtlMs} ms)`,
    });
  }
  const backoffMs = parseBackoff(c.consumerBackoff, c.consumerMaxDeliver, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    host: c.host,
    port: c.port,
    natsUrl: c.natsUrl,
    natsIdentity: Object.freeze({
      natsUser: c.natsUser,
      natsPassword: c.natsPassword,
      natsNkeySeedFile: c.natsNkeySeedFile,
      natsTlsCaFile: c.natsTlsCaFile,
      natsTlsCertFile: c.natsTlsCertFile,
      natsTlsKeyFile: c.natsTlsKeyFile,
    }),
    redisUrl: c.redisUrl,
    redisTlsCaFile: c.redisTlsCaFile,
    logLevel: c.logLevel,
    instanceId: c.instanceId ?? defaultInstanceId(),
    shutdownGraceMs: c.shutdownGraceMs,
    issuer: c.issuer,
    jwksUrl: c.jwksUrl,
    kek: kek!,
    kekPrevious,
    displayTokenTtlMs: c.displayTokenTtlMs,
    clientTokenTtlMs: c.clientTokenTtlMs,
    refreshTtlMs: c.refreshTtlMs,
    refreshRetryGraceMs,
    enrollmentTtlMs: c.enrollmentTtlMs,
    keyRotationIntervalMs: c.keyRotationIntervalMs,
    keyRotationCheckMs: c.keyRotationCheckMs,
    leaseTtlMs: c.leaseTtlMs,
    jwksMaxAgeSeconds: c.jwksMaxAgeSeconds,
    scryptLogN: c.scryptLogN,
    trustProxy: parseTrustProxy(c.trustProxy),
    bodyLimit: c.bodyLimit,
    httpRequestTimeoutMs: c.httpRequestTimeoutMs,
    httpHeadersTimeoutMs: c.httpHeadersTimeoutMs,
    httpKeepAliveTimeoutMs: c.httpKeepAliveTimeoutMs,
    httpConnectionTimeoutMs: c.httpConnectionTimeoutMs,
    trustedProxies: c.trustedProxies,
    adminPort: c.adminPort,
    adminHost: c.adminHost,
    corsOrigins: c.corsOrigins,
    consumer: Object.freeze({
      // JetStream replaces ack_wait by the first backoff step; state what the consumer will have.
      ackWaitMs: backoffMs?.[0] ?? c.consumerAckWaitMs,
      maxAckPending: c.consumerMaxAckPending,
      maxDeliver: c.consumerMaxDeliver,
      backoffMs,
    }),
    rateLimit: Object.freeze({
      windowMs: c.rateLimitWindowMs,
      tokenPerClient: c.rateLimitTokenPerClient,
      tokenPerIp: c.rateLimitTokenPerIp,
      enrollPerIp: c.rateLimitEnrollPerIp,
      refreshPerIp: c.rateLimitRefreshPerIp,
      displaysPerIp: c.rateLimitDisplaysPerIp,
    }),
    tenantMaxDisplays: c.tenantMaxDisplays,
    audit: Object.freeze({ windowMs: c.auditWindowMs, maxKeys: c.auditMaxKeys }),
  });
}

/** The lifetimes of auth's records that the KV bucket TTLs must cover. */
export interface AuthLifetimes {
  readonly refreshTtlMs: number;
  readonly enrollmentTtlMs: number;
  readonly leaseTtlMs: number;
}

/** The lifetimes, each with the variable that sets it (for error messages). */
export function authTopologyLifetimes(config: AuthLifetimes): TopologyLifetimes {
  return {
    enrollmentTtlMs: { ms: config.enrollmentTtlMs, env: AUTH_CONFIG_SPEC.enrollmentTtlMs.env },
    refreshTokenTtlMs: { ms: config.refreshTtlMs, env: AUTH_CONFIG_SPEC.refreshTtlMs.env },
    leaseTtlMs: { ms: config.leaseTtlMs, env: AUTH_CONFIG_SPEC.leaseTtlMs.env },
  };
}

/**
 * What `topology apply` reads besides TOPOLOGY_CONFIG_SPEC: no KEK, so its container needs no
 * secret but its NATS identity. Exported for k8s-checks (the variables its manifest may set).
 */
export const TOPOLOGY_APPLY_SPEC = {
  ...natsConfig(),
  logLevel: AUTH_CONFIG_SPEC.logLevel,
  refreshTtlMs: AUTH_CONFIG_SPEC.refreshTtlMs,
  enrollmentTtlMs: AUTH_CONFIG_SPEC.enrollmentTtlMs,
  leaseTtlMs: AUTH_CONFIG_SPEC.leaseTtlMs,
} as const;

export interface TopologyApplyConfig {
  readonly natsUrl: string;
  /** NATS_USER / NATS_NKEY_SEED_FILE / NATS_TLS_*: the topology identity (the one allowed to change streams). */
  readonly natsIdentity: NatsIdentityConfig;
  readonly logLevel: AuthConfig['logLevel'];
  /** Every stream and bucket setting, the bucket TTLs sized for auth's lifetimes. */
  readonly topology: TopologyConfig;
}

/**
 * Loads what `topology apply` needs: NATS, auth's lifetimes and the platform's topology settings.
 * @throws ConfigError naming every bad variable
 */
export function loadTopologyApplyConfig(env: Readonly<Record<string, string | undefined>> = process.env): TopologyApplyConfig {
  const c = loadConfig(TOPOLOGY_APPLY_SPEC, env);
  return Object.freeze({ natsUrl: c.natsUrl, natsIdentity: c, logLevel: c.logLevel, topology: loadTopologyConfig(env, authTopologyLifetimes(c)) });
}

/** Complete backups kept in the backup root by `orderwire-backup backup`. @default 7 */
export const DEFAULT_BACKUP_KEEP = 7;

/** What `orderwire-backup` reads: NATS only (no KEK: the signing keys are backed up still encrypted). */
const BACKUP_SPEC = {
  ...natsConfig(),
  logLevel: AUTH_CONFIG_SPEC.logLevel,
  backupKeep: {
    env: 'BACKUP_KEEP',
    type: 'int',
    default: DEFAULT_BACKUP_KEEP,
    min: 0,
    doc: 'complete backups kept in the backup root after a successful run (older ones are deleted); 0 keeps all',
  },
} as const;

export interface BackupConfig {
  readonly natsUrl: string;
  /** NATS_USER / NATS_NKEY_SEED_FILE / NATS_TLS_*: an identity allowed to snapshot and restore streams. */
  readonly natsIdentity: NatsIdentityConfig;
  readonly logLevel: AuthConfig['logLevel'];
  readonly backupKeep: number;
}

/** @throws ConfigError naming every bad variable */
export function loadBackupConfig(env: Readonly<Record<string, string | undefined>> = process.env): BackupConfig {
  const c = loadConfig(BACKUP_SPEC, env);
  return Object.freeze({ natsUrl: c.natsUrl, natsIdentity: c, logLevel: c.logLevel, backupKeep: c.backupKeep });
}
