/**
 * The Socket.IO side of the edge: handshake, one live session per display across nodes,
 * in-band token refresh, revocation, and the shutdown drain.
 */
import { ServerResponse, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { SIGNALS, SOCKET_PATH, displayConsumerName, isValidId, type AuthRefreshResult, type DisconnectReason, type DisplayTokenClaims, type OrdersExpired } from '@orderwire/contracts';
import { AUTH_FAILURES_EVENT, clientAddressOf, type AuditAggregator, type ExpiredNotices, type OrderStreamLocator, type TrustedProxies } from '@orderwire/platform';
import type { TokenVerifier } from '@orderwire/token-verifier';
import { EDGE_SUBJECT_PREFIXES } from '@orderwire/platform';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { DeliveryEngine } from '../delivery/engine.js';
import type { ReceiptWriter } from '../delivery/receipt-writer.js';
import { EDGE_ERRORS } from '../errors.js';
import type { EdgeMetrics } from '../metrics.js';
import { bindConsumer, createHandshake, mailboxOwes } from './handshake.js';
import type { Presence } from './presence.js';
import { createConnectionCap } from './connection-cap.js';
import { createExpirySchedule } from './expiry.js';
import { createRateLimiter, createTokenBucket } from './rate-limit.js';
import { createLimiter, withSlot } from '../delivery/limiter.js';
import { DisplaySession, type SessionSettings } from './session.js';
import type { EdgeServer, EdgeSocket } from './types.js';

/** Core subject on which an edge announces a new session, so other nodes end older ones. */
export const TAKEOVER_SUBJECT_PREFIX = EDGE_SUBJECT_PREFIXES.takeover;
/** How long a revoked token family is refused at handshake (≥ any access-token lifetime). */
export const REVOKED_FAMILY_MEMORY_MS = 60 * 60 * 1000;
/**
 * `auth:refresh` budget per socket: the SDK refreshes at the latest a minute before expiry and
 * at the earliest at half the token's lifetime (and on a retry), so 3 at once and one per 10 s
 * sustained is far above honest use of the default 15-minute tokens; each costs a signature check.
 */
export const REFRESH_BURST = 3;
export const REFRESH_PER_SECOND = 0.1;
/**
 * With short-lived tokens (AUTH_DISPLAY_TOKEN_TTL below ~20 s) an honest SDK refreshes twice
 * per lifetime, faster than one per 10 s: the sustained budget is then this many refreshes per
 * token lifetime (twice the honest rate), or every such display was ended with `rate_limited`
 * a few refreshes after it connected.
 */
export const REFRESH_PER_TOKEN_LIFETIME = 4;

/** Sustained `auth:refresh` rate a socket may use, from the lifetime of its handshake token. */
export function refreshRatePerSecond(claims: Pick<DisplayTokenClaims, 'iat' | 'exp'>): number {
  const lifetimeS = claims.exp - claims.iat;
  return Number.isFinite(lifetimeS) && lifetimeS > 0 ? Math.max(REFRESH_PER_SECOND, REFRESH_PER_TOKEN_LIFETIME / lifetimeS) : REFRESH_PER_SECOND;
}
/** The engine.io connection behind a socket (what `io.engine` emits on `connection`). */
type EngineConnection = EdgeSocket['conn'];
/** How often expired revoked-family entries are dropped. */
const REVOKED_PRUNE_MS = 60 * 1000;
/** What the handshake's `auth`, `headers` and `query` read as once the session started (see `releaseHandshake`). */
const RELEASED: Record<string, never> = Object.freeze({});

/**
 * Drops what the transport stack keeps of the handshake for the connection's life, once the
 * session has started and nothing reads it again: Socket.IO's `handshake.auth` (the token, ~560
 * bytes, which the handshake already verified), `handshake.headers`, `query`, `url` and `time`, and
 * engine.io's reference to the upgrade request (`conn.request`; Socket.IO reads it only to build
 * the handshake, and copes with none, as for WebTransport). engine.io's upgrade response object
 * (`WebSocketResponse`) kept the request too, until the socket closed — from a `close` listener on
 * the TCP socket — and it uses the request only for middlewares' `setHeader` during the upgrade,
 * so its reference goes as well (`upgradeResponses`, filled by an engine middleware). The raw
 * header list is emptied in case anything else still reaches the request.
 */
function releaseHandshake(socket: EdgeSocket, upgradeResponses: WeakMap<IncomingMessage, { req: unknown }>): void {
  const { handshake } = socket;
  handshake.auth = RELEASED;
  handshake.headers = RELEASED;
  handshake.query = RELEASED;
  // Per-connection strings nothing reads: the request URL and the handshake's date as text.
  handshake.url = '';
  handshake.time = '';
  const conn = socket.conn as { request: IncomingMessage | undefined };
  const req = conn.request;
  conn.request = undefined;
  if (req === undefined) return;
  req.rawHeaders = [];
  const res = upgradeResponses.get(req);
  if (res === undefined) return;
  upgradeResponses.delete(req);
  res.req = undefined;
}

interface TakeoverNotice {
  socketId: string;
  instance: string;
  /** Epoch ms when the newer session started: only sessions older than it end. */
  at: number;
}

interface RevokedSignal {
  tenant?: unknown;
  displayId?: unknown;
  familyId?: unknown;
  reason?: unknown;
}

export interface EdgeSocketServerOptions {
  httpServer: HttpServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Which order stream holds a display's mailbox. */
  streams: OrderStreamLocator;
  engine: DeliveryEngine;
  receipts: ReceiptWriter;
  verifier: TokenVerifier;
  metrics: EdgeMetrics;
  logger: Logger;
  instanceId: string;
  settings: SessionSettings;
  transports: readonly ('websocket' | 'polling')[];
  allowedOrigins: readonly string[];
  handshakeRate: number;
  handshakeBurst: number;
  /** Consumer reads of handshakes in flight, process-wide (`EDGE_HANDSHAKE_CONSUMER_READS`). */
  handshakeConsumerReads: number;
  /** Proxies whose X-Forwarded-For hop is trusted (TRUSTED_PROXIES). */
  trustedProxies: TrustedProxies;
  /** Live sessions per client address (0: no cap). */
  maxConnectionsPerAddress: number;
  /** Largest message a display may send (Socket.IO maxHttpBufferSize). */
  maxMessageBytes: number;
  /** Messages per second (sustained, burst) one socket may send; 0: no limit. */
  socketEventRate: number;
  socketEventBurst: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  connectTimeoutMs: number;
  /** Display presence in Redis (for auth's GET /v1/displays); none when absent. */
  presence?: Presence;
  /** Orders that expired while a display was away (`orders:expired` after the handshake); none when absent. */
  notices?: ExpiredNotices;
  /** Refused handshakes are counted into the aggregated `auth_failures` audit event. */
  audit?: AuditAggregator;
  /** Socket.IO adapter factory (the Redis adapter); in-memory when absent. */
  adapter?: Parameters<EdgeServer['adapter']>[0];
}

export interface EdgeSocketServer {
  io: EdgeServer;
  readonly sessions: number;
  /** Messages held at displays, summed over sessions. */
  heldMessages(): number;
  /** Sessions with deliveries awaiting their ack or messages left on their consumer. */
  displaysWithBacklog(): number;
  /** Age in seconds of the oldest held message (0 when none). */
  oldestHeldAgeSeconds(): number;
  /** Refuse new handshakes (`server_shutdown`). */
  stopAccepting(): void;
  /**
   * Tells every display to reconnect elsewhere, hands every held message back at once and
   * disconnects. Returns the number of sessions ended and messages handed back.
   */
  drain(): { sessions: number; handedBack: number };
  close(): Promise<void>;
}

export function createEdgeSocketServer(options: EdgeSocketServerOptions): EdgeSocketServer {
  const { nc, engine, metrics, logger, instanceId } = options;
  const log = logger.child({ component: 'socket' });
  let accepting = true;
  const sessions = new Set<DisplaySession>();
  /** Local sessions by consumer name (one per display, briefly two during a takeover). */
  const byConsumer = new Map<string, DisplaySession | Set<DisplaySession>>();
  /** This node's sessions of one display, oldest first (usually one; a Set only during a takeover). */
  const sessionsOf = (consumer: string): DisplaySession[] => {
    const found = byConsumer.get(consumer);
    return found === undefined ? [] : found instanceof Set ? [...found] : [found];
  };
  const revokedFamilies = new Map<string, number>();

  const isRevokedFamily = (fam: string): boolean => {
    const until = revokedFamilies.get(fam);
    return until !== undefined && until > Date.now();
  };
  const pruneTimer = setInterval(() => {
    const now = Date.now();
    for (const [fam, until] of revokedFamilies) if (until <= now) revokedFamilies.delete(fam);
  }, REVOKED_PRUNE_MS);
  pruneTimer.unref();

  const rateLimiter = createRateLimiter({ perSecond: options.handshakeRate, burst: options.handshakeBurst });
  const consumerReads = createLimiter(options.handshakeConsumerReads);
  const cap = createConnectionCap(options.maxConnectionsPerAddress);
  /** Client address of each transport connection, computed once from its upgrade request. */
  const addressOf = new WeakMap<object, string>();
  const requestAddress = (req: IncomingMessage): string =>
    clientAddressOf({ remoteAddress: req.socket.remoteAddress, headers: req.headers }, options.trustedProxies);
  const io: EdgeServer = new Server(options.httpServer, {
    path: SOCKET_PATH,
    transports: [...options.transports],
    serveClient: false,
    // The edge keeps no per-socket state worth recovering: the consumer is the mailbox.
    connectionStateRecovery: undefined,
    maxHttpBufferSize: options.maxMessageBytes,
    pingInterval: options.pingIntervalMs,
    pingTimeout: options.pingTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    // Only for new transport connections (not each polling request of an open one).
    allowRequest: (req, callback) => {
      const ok = cap.allowTransport(requestAddress(req));
      if (!ok) metrics.rateLimited.inc({ route: 'connection_cap' });
      callback(ok ? null : 'too many connections from this address', ok);
    },
  });
  if (options.adapter !== undefined) io.adapter(options.adapter);
  /** engine.io's response object of each WebSocket upgrade, until its session started (`releaseHandshake`). */
  const upgradeResponses = new WeakMap<IncomingMessage, { req: unknown }>();
  io.engine.use((req: IncomingMessage, res: unknown, next: () => void) => {
    // A WebSocket upgrade's response is engine.io's own object, not an http.ServerResponse.
    if (!(res instanceof ServerResponse) && typeof res === 'object' && res !== null && 'req' in res) upgradeResponses.set(req, res);
    next();
  });
  io.engine.on('connection', (conn: EngineConnection) => {
    const address = requestAddress(conn.request);
    addressOf.set(conn, address);
    cap.trackTransport(conn, address);
  });
  // Every connection's address is recorded on engine.io's `connection`, before Socket.IO's; the
  // request is gone once a session started (`releaseHandshake`).
  const clientAddress = (socket: EdgeSocket): string => addressOf.get(socket.conn) ?? socket.conn.remoteAddress;

  io.use(
    createHandshake({
      verifier: options.verifier,
      jsm: options.jsm,
      streams: options.streams,
      metrics,
      logger: log,
      allowedOrigins: options.allowedOrigins,
      isAccepting: () => accepting,
      isRevokedFamily,
      rateLimiter,
      clientAddress,
      admit: (socket, address) => cap.admit(socket.conn, address),
      consumerReads,
      ...(options.audit === undefined ? {} : { audit: options.audit }),
    }),
  );

  const expiry = createExpirySchedule<DisplaySession>((s) => s.expire());
  const sessionContext = {
    engine,
    expiry,
    receipts: options.receipts,
    verifier: options.verifier,
    metrics,
    settings: options.settings,
    isRevokedFamily,
    async consumerExists(stream: string, name: string): Promise<'present' | 'missing' | 'unknown'> {
      try {
        return (await withSlot(consumerReads, () => bindConsumer(options.jsm, stream, name))) === undefined ? 'missing' : 'present';
      } catch {
        return 'unknown';
      }
    },
    async consumerRetiringTo(stream: string, name: string): Promise<string | undefined> {
      return (await bindConsumer(options.jsm, stream, name))?.retiringTo;
    },
    async consumerOwes(stream: string, name: string): Promise<number | undefined> {
      try {
        const b = await bindConsumer(options.jsm, stream, name);
        return b === undefined ? 0 : mailboxOwes(b.info);
      } catch {
        return undefined;
      }
    },
    onRefreshRefused(socket: EdgeSocket, reason: DisconnectReason, code: string | undefined): void {
      const claims = socket.data.claims;
      options.audit?.note({
        event: AUTH_FAILURES_EVENT,
        tenant: claims.tid,
        source: clientAddress(socket),
        actor: { type: 'display', id: claims.sub },
        reason: code ?? reason,
        sample: claims.sub,
      });
    },
    onClosed(s: DisplaySession): void {
      options.presence?.offline(s.socketId);
      sessions.delete(s);
      const found = byConsumer.get(s.displayKey);
      if (found === s) byConsumer.delete(s.displayKey);
      else if (found instanceof Set && found.delete(s) && found.size === 1) byConsumer.set(s.displayKey, found.values().next().value!);
    },
  };

  /**
   * Ends this node's sessions of `consumer` that started before the newer session `socketId`
   * (started at `at`). A notice that arrives late — NATS or Redis slow — must not end a session
   * that is itself newer, e.g. after the display already moved on again.
   */
  function takeover(consumer: string, socketId: string, at: number): void {
    let n = 0;
    for (const s of sessionsOf(consumer)) {
      if (s.socketId !== socketId && s.startedAt <= at && s.end('session_replaced', false)) n++;
    }
    if (n > 0) metrics.sessionReplaced.inc(n);
  }

  function endLocal(consumer: string, reason: DisconnectReason, match: (s: DisplaySession) => boolean): number {
    let n = 0;
    for (const s of sessionsOf(consumer)) if (match(s) && s.end(reason, false)) n++;
    return n;
  }

  // One function per node for every socket's events, not closures per connection: the listeners
  // are called with the emitter as `this` (engine.io's connection, Socket.IO's socket).
  /** The socket of each transport connection, for its `packet` listener. */
  const socketOfConn = new WeakMap<object, EdgeSocket>();
  const overLimit = (socket: EdgeSocket, session: DisplaySession, kind: 'messages' | 'auth:refresh'): void => {
    // Packets already buffered arrive after the end: count and log the socket once.
    if (session.limited) return;
    session.limited = true;
    metrics.rateLimited.inc({ route: 'socket_event' });
    const err = EDGE_ERRORS.create('ORDERWIRE_ERR_EDGE_SOCKET_RATE_LIMITED', { kind });
    session.log.warn({ code: err.code, kind, address: clientAddress(socket) }, 'socket over its message rate; ending session');
    session.end('rate_limited', true, err.message);
  };
  // Every message the display sends (acks and events) draws from one budget; `auth:refresh`
  // (a signature check each) also from a small one of its own. Past either: session ends. Each
  // budget is created at the socket's first message of its kind (idle displays send none).
  function onPacket(this: EngineConnection, packet: { type: string }): void {
    if (packet.type !== 'message') return;
    const socket = socketOfConn.get(this);
    const session = socket?.data.session;
    if (socket === undefined || session === undefined) return;
    session.messageBudget ??= createTokenBucket({ perSecond: options.socketEventRate, burst: options.socketEventBurst });
    if (!session.messageBudget.take()) overLimit(socket, session, 'messages');
  }
  function onRefresh(this: EdgeSocket, req: unknown, ack: unknown): void {
    refresh(this, req, ack);
  }
  function refresh(socket: EdgeSocket, req: unknown, ack: unknown): void {
    const session = socket.data.session;
    if (typeof ack !== 'function' || session === undefined) return;
    const answer = ack as (res: AuthRefreshResult) => void;
    session.refreshBudget ??= createTokenBucket({
      perSecond: options.socketEventRate > 0 ? refreshRatePerSecond(socket.data.claims) : 0,
      burst: REFRESH_BURST,
    });
    if (!session.refreshBudget.take()) {
      answer({ ok: false, reason: 'rate_limited' });
      overLimit(socket, session, 'auth:refresh');
      return;
    }
    let answered = false;
    const reply = (res: AuthRefreshResult): void => {
      if (answered) return;
      answered = true;
      answer(res);
    };
    const token: unknown = typeof req === 'object' && req !== null ? (req as { token?: unknown }).token : undefined;
    session.refresh(token).then(reply, (err: unknown) => {
      session.log.error({ err }, 'auth:refresh failed');
      reply({ ok: false, reason: 'internal_error' });
    });
  }
  function onDisconnect(this: EdgeSocket, reason: string): void {
    this.data.session?.close(reason);
  }

  io.on('connection', (socket: EdgeSocket) => {
    const { claims, binding } = socket.data;

    // One live session per display. Local older sessions end first, so their messages are
    // handed back before the new mailbox pulls. Other nodes hear it twice, whichever comes
    // first: over NATS (works without Redis, counts the replacement where it happens) and as a
    // server-side event through the Redis adapter. Both carry the new session's start time.
    // A blind room-wide disconnect through the adapter is deliberately not used: delivered
    // late, it would end a session newer than the one that sent it — and the socket joins no
    // room of its display (nothing addressed one; each room is a Set in the adapter per socket).
    const at = Date.now();
    takeover(binding.key, socket.id, at);
    try {
      const notice: TakeoverNotice = { socketId: socket.id, instance: instanceId, at };
      nc.publish(`${TAKEOVER_SUBJECT_PREFIX}.${binding.key}`, JSON.stringify(notice));
    } catch (err) {
      log.warn({ err }, 'takeover notice not published');
    }
    io.serverSideEmit('takeover', binding.key, socket.id, at);

    const session = new DisplaySession(socket, sessionContext, log);
    socket.data.session = session;
    socketOfConn.set(socket.conn, socket);
    sessions.add(session);
    const found = byConsumer.get(binding.key);
    if (found === undefined) byConsumer.set(binding.key, session);
    else if (found instanceof Set) found.add(session);
    else byConsumer.set(binding.key, new Set([found, session]));
    options.presence?.online({ tenant: claims.tid, displayId: claims.sub, storeId: claims.sid, socketId: socket.id, connectedAt: at });

    socket.conn.on('packet', onPacket);
    socket.on('auth:refresh', onRefresh);
    socket.on('disconnect', onDisconnect);
    session.start();
    releaseHandshake(socket, upgradeResponses);
    tellExpired(socket, session).catch((err: unknown) => session.log.error({ err }, 'orders:expired failed'));
  });

  /**
   * Tells a display that just connected which orders expired while it was away, once: the
   * notice is cleared only after the display acked it (a display that does not answer, or
   * disconnects first, is told on its next connection). Orders delivery is not held up by it.
   */
  async function tellExpired(socket: EdgeSocket, session: DisplaySession): Promise<void> {
    const notices = options.notices;
    if (notices === undefined) return;
    let notice: OrdersExpired | undefined;
    try {
      notice = await notices.get(session.tenant, session.displayId);
    } catch (err) {
      metrics.expiredNotices.inc({ outcome: 'failed' });
      session.log.warn({ err }, 'expired-order notice not read; the display is told on its next connection');
      return;
    }
    if (notice === undefined || socket.disconnected) return;
    let answer: unknown;
    try {
      answer = await socket.timeout(options.settings.ackTimeoutMs).emitWithAck('orders:expired', notice);
    } catch {
      answer = undefined;
    }
    if ((answer as { ok?: unknown } | undefined)?.ok !== true) {
      metrics.expiredNotices.inc({ outcome: 'unanswered' });
      session.log.info({ total: notice.total }, 'orders:expired not acknowledged; told again on the next connection');
      return;
    }
    try {
      await notices.acknowledge(session.tenant, session.displayId, notice);
    } catch (err) {
      metrics.expiredNotices.inc({ outcome: 'failed' });
      session.log.warn({ err, total: notice.total }, 'expired-order notice not cleared; the display may be told again');
      return;
    }
    metrics.expiredNotices.inc({ outcome: 'acked' });
    session.log.info({ total: notice.total }, 'display told about orders that expired while it was away');
  }

  const takeoverSub: Subscription = nc.subscribe(`${TAKEOVER_SUBJECT_PREFIX}.*`, {
    callback: (err, msg) => {
      if (err !== null) {
        log.error({ err }, 'takeover subscription failed');
        return;
      }
      let notice: TakeoverNotice;
      try {
        notice = msg.json<TakeoverNotice>();
      } catch {
        return;
      }
      if (notice.instance === instanceId || typeof notice.at !== 'number') return;
      takeover(msg.subject.slice(TAKEOVER_SUBJECT_PREFIX.length + 1), notice.socketId, notice.at);
    },
  });
  io.on('takeover', (consumer, socketId, at) => takeover(consumer, socketId, at));

  // Revocation: auth announces on core NATS; KV holds the durable truth (refresh fails there).
  const revokedSub: Subscription = nc.subscribe(SIGNALS.displayRevokedAll, {
    callback: (err, msg) => {
      if (err !== null) {
        log.error({ err }, 'revocation subscription failed');
        return;
      }
      let signal: RevokedSignal;
      try {
        signal = msg.json<RevokedSignal>();
      } catch {
        log.warn({ subject: msg.subject }, 'unreadable revocation signal');
        return;
      }
      if (!isValidId(signal.tenant) || !isValidId(signal.displayId)) return;
      const familyId = typeof signal.familyId === 'string' ? signal.familyId : undefined;
      const reason: DisconnectReason = signal.reason === 'display_decommissioned' ? 'display_decommissioned' : 'token_revoked';
      if (familyId !== undefined) revokedFamilies.set(familyId, Date.now() + REVOKED_FAMILY_MEMORY_MS);
      const consumer = displayConsumerName(signal.tenant, signal.displayId);
      const n = endLocal(consumer, reason, (s) => familyId === undefined || s.familyId === familyId);
      log.info({ tenant: signal.tenant, displayId: signal.displayId, familyId, reason, sessions: n }, 'revocation signal');
    },
  });

  return {
    io,
    get sessions() {
      return sessions.size;
    },
    displaysWithBacklog() {
      let n = 0;
      for (const s of sessions) if (s.heldCount > 0 || s.backlog > 0) n++;
      return n;
    },
    heldMessages() {
      let n = 0;
      for (const s of sessions) n += s.heldCount;
      return n;
    },
    oldestHeldAgeSeconds() {
      let oldest: number | undefined;
      for (const s of sessions) {
        const t = s.oldestHeldStoredAt();
        if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
      }
      return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
    },
    stopAccepting() {
      accepting = false;
    },
    drain() {
      accepting = false;
      let handedBack = 0;
      const n = sessions.size;
      for (const s of [...sessions]) {
        handedBack += s.heldCount;
        s.end('server_shutdown', true);
        // end() disconnects, whose handler closes the session; close() again is a no-op
        // that still covers a socket already half-gone.
        s.close('server_shutdown');
      }
      return { sessions: n, handedBack };
    },
    async close() {
      clearInterval(pruneTimer);
      expiry.close();
      rateLimiter.close();
      if (!nc.isClosed()) {
        takeoverSub.unsubscribe();
        revokedSub.unsubscribe();
      }
      await io.close();
    },
  };
}
