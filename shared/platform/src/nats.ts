/**
 * NATS connection with the reconnect policy every service needs (reconnect forever, jittered)
 * and every status change logged. Connection state is tracked so the readiness check answers
 * "disconnected" at once instead of waiting for a PING that cannot be answered.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  createInbox,
  errors as natsErrors,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
  type Status,
  type TlsOptions,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { PLATFORM_ERRORS } from './errors.js';
import { redactUrlCredentials } from './redact.js';

/** 30000 ms for the first successful connection before startup fails. */
export const DEFAULT_NATS_CONNECT_TIMEOUT_MS = 30_000;
/** 2000 ms between reconnect attempts to the same server. */
export const DEFAULT_NATS_RECONNECT_WAIT_MS = 2_000;
/** 1000 ms random extra wait, so a fleet does not reconnect in lockstep. */
export const DEFAULT_NATS_RECONNECT_JITTER_MS = 1_000;
/** 5000 ms per dial attempt. */
export const DEFAULT_NATS_DIAL_TIMEOUT_MS = 5_000;
/**
 * 5000 ms between client PINGs. nats.js defaults to 2 minutes: a server that stops answering
 * without closing its sockets (a paused process, a partitioned host) held every service
 * connected to it for minutes — the chaos suite's 60 s node pause kept ingest answering 503 for
 * the whole pause. With 5 s × `DEFAULT_NATS_MAX_PINGS_OUT` the client gives up on such a
 * server within ~15–20 s and reconnects to another node of the cluster.
 */
export const DEFAULT_NATS_PING_INTERVAL_MS = 5_000;
/** 3 unanswered PINGs mark the connection stale. */
export const DEFAULT_NATS_MAX_PINGS_OUT = 3;
/** 10000 ms for `closeNats` to drain before it closes hard. */
export const DEFAULT_NATS_DRAIN_TIMEOUT_MS = 10_000;

export interface ConnectNatsOptions {
  servers: string | readonly string[];
  /** Connection name shown in `nats-server` monitoring (`connz`). */
  name: string;
  logger: Logger;
  user?: string;
  pass?: string;
  token?: string;
  /** File holding an NKEY user seed (`SU…`); read at connect, so a rotated Secret applies on restart. */
  nkeySeedFile?: string;
  /** TLS to the servers; any field set turns TLS on. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /**
   * Prefix of this connection's reply inboxes (`<prefix>.<nuid>`), so the server can grant each
   * service only its own (`_INBOX_<service>.>`) instead of every `_INBOX.>`. The JetStream
   * client uses it too (pull consumers, direct get, KV watch). @default `_INBOX`
   */
  inboxPrefix?: string;
  /** Bound on reaching a server for the first time. @default DEFAULT_NATS_CONNECT_TIMEOUT_MS */
  timeoutMs?: number;
  /** @default DEFAULT_NATS_RECONNECT_WAIT_MS */
  reconnectTimeWaitMs?: number;
  /** @default DEFAULT_NATS_RECONNECT_JITTER_MS */
  reconnectJitterMs?: number;
  /** @default DEFAULT_NATS_DIAL_TIMEOUT_MS */
  dialTimeoutMs?: number;
  /** @default DEFAULT_NATS_PING_INTERVAL_MS */
  pingIntervalMs?: number;
  /** @default DEFAULT_NATS_MAX_PINGS_OUT */
  maxPingsOut?: number;
  /** Aborts the first-connect loop (e.g. SIGTERM during startup). */
  signal?: AbortSignal;
}

export type { NatsConnection };

const connected = new WeakMap<NatsConnection, boolean>();
const inboxPrefixes = new WeakMap<NatsConnection, string>();

/** The identity and TLS variables of `natsConfig()` as a loaded config holds them. */
export interface NatsIdentityConfig {
  readonly natsUser?: string | undefined;
  readonly natsPassword?: string | undefined;
  readonly natsNkeySeedFile?: string | undefined;
  readonly natsTlsCaFile?: string | undefined;
  readonly natsTlsCertFile?: string | undefined;
  readonly natsTlsKeyFile?: string | undefined;
}

/** The private inbox prefix of a service: `_INBOX_<service>` (the generated permissions grant `_INBOX_<service>.>`). */
export function serviceInboxPrefix(service: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(service)) throw new Error(`service name ${JSON.stringify(service)} cannot be an inbox token`);
  return `_INBOX_${service}`;
}

/**
 * The credential, TLS and inbox options of `connectNats` for a service's loaded config, so every
 * service and CLI maps NATS_USER / NATS_NKEY_SEED_FILE / NATS_TLS_* the same way.
 */
export function natsIdentityOptions(
  config: NatsIdentityConfig,
  service: string,
): Pick<ConnectNatsOptions, 'user' | 'pass' | 'nkeySeedFile' | 'tls' | 'inboxPrefix'> {
  const out: Pick<ConnectNatsOptions, 'user' | 'pass' | 'nkeySeedFile' | 'tls' | 'inboxPrefix'> = { inboxPrefix: serviceInboxPrefix(service) };
  if (config.natsUser !== undefined) out.user = config.natsUser;
  if (config.natsPassword !== undefined) out.pass = config.natsPassword;
  if (config.natsNkeySeedFile !== undefined) out.nkeySeedFile = config.natsNkeySeedFile;
  const tls = { caFile: config.natsTlsCaFile, certFile: config.natsTlsCertFile, keyFile: config.natsTlsKeyFile };
  if (Object.values(tls).some((v) => v !== undefined)) {
    out.tls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
  }
  return out;
}

/**
 * The inbox prefix `conn` was made with (`_INBOX` unless `connectNats` was given one). Code that
 * builds its own reply subjects (`createConnectionInbox`) must use it, or the server refuses them.
 */
export function natsInboxPrefix(nc: NatsConnection): string {
  return inboxPrefixes.get(nc) ?? '_INBOX';
}

/** A fresh inbox subject under the connection's inbox prefix. */
export function createConnectionInbox(nc: NatsConnection): string {
  return createInbox(natsInboxPrefix(nc));
}

function statusLogger(logger: Logger, nc: NatsConnection, s: Status): void {
  switch (s.type) {
    case 'disconnect':
      connected.set(nc, false);
      logger.warn({ nats: s.type, server: s.server }, 'nats disconnected');
      break;
    case 'reconnect':
      connected.set(nc, true);
      logger.info({ nats: s.type, server: s.server }, 'nats reconnected');
      break;
    case 'reconnecting':
      logger.debug({ nats: s.type }, 'nats reconnecting');
      break;
    case 'update':
      logger.info({ nats: s.type, added: s.added, deleted: s.deleted }, 'nats cluster update');
      break;
    case 'ldm':
      logger.warn({ nats: s.type, server: s.server }, 'nats server entering lame duck mode');
      break;
    case 'error':
      logger.error({ nats: s.type, err: s.error }, 'nats async error');
      break;
    case 'ping':
      logger.debug({ nats: s.type, pendingPings: s.pendingPings }, 'nats ping outstanding');
      break;
    case 'staleConnection':
      logger.warn({ nats: s.type }, 'nats stale connection');
      break;
    case 'slowConsumer':
      logger.warn({ nats: s.type, subject: s.sub.getSubject(), pending: s.pending }, 'nats slow consumer');
      break;
    case 'forceReconnect':
      logger.info({ nats: s.type }, 'nats forced reconnect');
      break;
    case 'close':
      connected.set(nc, false);
      logger.info({ nats: s.type }, 'nats connection closed');
      break;
  }
}

function watch(nc: NatsConnection, logger: Logger): void {
  connected.set(nc, true);
  (async () => {
    for await (const s of nc.status()) statusLogger(logger, nc, s);
  })().catch((err: unknown) => logger.error({ err }, 'nats status watcher failed'));
  nc.closed()
    .then((err) => {
      connected.set(nc, false);
      if (err) logger.error({ err }, 'nats connection closed with error');
    })
    .catch((err: unknown) => logger.error({ err }, 'nats closed() rejected'));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Splits `user:pass@` (or a lone `token@`) off NATS server URLs. The first URL with credentials
 * provides them; every URL is returned without its userinfo.
 */
export function urlCredentials(servers: readonly string[]): { servers: string[]; user?: string; pass?: string; token?: string } {
  let creds: { user?: string; pass?: string; token?: string } = {};
  const stripped = servers.map((s) => {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^\s/@,]*)@(.*)$/i.exec(s);
    if (m === null) return s;
    const [, scheme, userinfo, rest] = m as unknown as [string, string, string, string];
    if (creds.user === undefined && creds.token === undefined) {
      const colon = userinfo.indexOf(':');
      creds =
        colon < 0
          ? { token: decodeURIComponent(userinfo) }
          : { user: decodeURIComponent(userinfo.slice(0, colon)), pass: decodeURIComponent(userinfo.slice(colon + 1)) };
    }
    return `${scheme}${rest}`;
  });
  return { servers: stripped, ...creds };
}

/**
 * Connects, retrying until `timeoutMs`, then reconnects forever once connected.
 *
 * The first connect is retried here rather than with the client's `waitOnFirstConnect`:
 * that option loops forever with no handle to stop it, so a service could neither bound
 * its startup nor fail fast on bad credentials. After the first success the client's own
 * policy (`maxReconnectAttempts: -1`) applies.
 * @throws OrderwireError ORDERWIRE_ERR_NATS_CONNECT on timeout, abort, or an auth error.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsConnection> {
  const { logger } = options;
  const listed = typeof options.servers === 'string' ? options.servers.split(',').map((s) => s.trim()) : [...options.servers];
  // nats.js ignores credentials in server URLs: take them out (explicit options win), so a
  // NATS_URL like nats://user:pw@host authenticates, and the URLs handed on carry no secret.
  const fromUrls = urlCredentials(listed);
  const servers = fromUrls.servers;
  const user = options.user ?? fromUrls.user;
  const pass = options.pass ?? fromUrls.pass;
  const token = options.token ?? fromUrls.token;
  const timeoutMs = options.timeoutMs ?? DEFAULT_NATS_CONNECT_TIMEOUT_MS;
  const waitMs = options.reconnectTimeWaitMs ?? DEFAULT_NATS_RECONNECT_WAIT_MS;
  const jitterMs = options.reconnectJitterMs ?? DEFAULT_NATS_RECONNECT_JITTER_MS;
  const deadline = Date.now() + timeoutMs;
  // Server URLs may carry a user:password or a token: only the redacted form is ever printed.
  const shownServers = servers.map(redactUrlCredentials);
  const fail = (reason: string, cause?: unknown): never => {
    throw PLATFORM_ERRORS.create('ORDERWIRE_ERR_NATS_CONNECT', { servers: shownServers.join(','), reason }, { cause });
  };

  const auth: Partial<ConnectionOptions> = {};
  if (options.nkeySeedFile !== undefined) {
    let seed: string;
    try {
      seed = readFileSync(options.nkeySeedFile, 'utf8').trim();
    } catch (err) {
      return fail(`cannot read the NKEY seed file ${options.nkeySeedFile} (NATS_NKEY_SEED_FILE)`, err);
    }
    if (!/^SU[A-Z2-7]+$/.test(seed)) return fail(`${options.nkeySeedFile} does not hold an NKEY user seed (SU…)`);
    auth.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (options.tls !== undefined) auth.tls = { ...options.tls } satisfies TlsOptions;
  if (options.inboxPrefix !== undefined) auth.inboxPrefix = options.inboxPrefix;

  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted === true) fail('aborted');
    try {
      const nc = await connect({
        servers,
        name: options.name,
        user,
        pass,
        token,
        ...auth,
        maxReconnectAttempts: -1,
        reconnectTimeWait: waitMs,
        reconnectJitter: jitterMs,
        reconnectJitterTLS: jitterMs,
        pingInterval: options.pingIntervalMs ?? DEFAULT_NATS_PING_INTERVAL_MS,
        maxPingOut: options.maxPingsOut ?? DEFAULT_NATS_MAX_PINGS_OUT,
        timeout: Math.max(1, Math.min(options.dialTimeoutMs ?? DEFAULT_NATS_DIAL_TIMEOUT_MS, deadline - Date.now())),
        waitOnFirstConnect: false,
      });
      watch(nc, logger);
      if (options.inboxPrefix !== undefined) inboxPrefixes.set(nc, options.inboxPrefix);
      logger.info({ server: nc.getServer(), name: options.name, attempt }, 'nats connected');
      return nc;
    } catch (err) {
      // Wrong credentials will not fix themselves by retrying.
      if (err instanceof natsErrors.AuthorizationError) fail('authorization failed', err);
      const left = deadline - Date.now();
      if (left <= 0) fail(`no server reachable after ${attempt} attempt(s)`, err);
      logger.warn({ err, attempt, servers: shownServers }, 'nats connect failed; retrying');
      await sleep(Math.min(left, waitMs + Math.random() * jitterMs), options.signal);
    }
  }
}

/** Drains (finish in-flight, flush) with a bound, then closes hard if the drain hangs. */
export async function closeNats(
  nc: NatsConnection,
  logger: Logger,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  if (nc.isClosed()) return;
  const timeoutMs = options.timeoutMs ?? DEFAULT_NATS_DRAIN_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const drain = nc.isDraining() ? nc.closed().then(() => 'drained' as const) : nc.drain().then(() => 'drained' as const);
    const outcome = await Promise.race([drain, timeout]);
    if (outcome === 'timeout') {
      logger.warn({ timeoutMs }, 'nats drain timed out; closing');
      await nc.close();
    } else {
      logger.info('nats drained');
    }
  } catch (err) {
    logger.warn({ err }, 'nats drain failed; closing');
    if (!nc.isClosed()) await nc.close();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * False while the client is disconnected (reconnecting) or closed, from the status events
 * `connectNats` watches. Lets a request path refuse at once instead of waiting out a timeout.
 * Connections not made by `connectNats` are reported by `isClosed()` only.
 */
export function isNatsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && connected.get(nc) !== false;
}

/** Readiness check: not ok while closed, draining or disconnected; else measures a round trip. */
export function natsHealthCheck(nc: NatsConnection): () => Promise<{ ok: boolean; detail: string }> {
  return async () => {
    if (nc.isClosed()) return { ok: false, detail: 'connection closed' };
    if (nc.isDraining()) return { ok: false, detail: 'connection draining' };
    if (connected.get(nc) === false) return { ok: false, detail: 'disconnected; reconnecting' };
    const rtt = await nc.rtt();
    return { ok: true, detail: `rtt ${rtt.toFixed(2)} ms to ${nc.getServer()}` };
  };
}
