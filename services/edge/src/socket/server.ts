/**
 * The Socket.IO side of the edge: handshake, one live session per display across nodes,
 * in-band token refresh, revocation, and the shutdown drain.
 */
import type { Server as HttpServer } from 'node:http';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { SIGNALS, SOCKET_PATH, displayConsumerName, isValidId, type DisconnectReason } from '@orderwire/contracts';
import type { TokenVerifier } from '@orderwire/token-verifier';
import { EDGE_SUBJECT_PREFIXES } from '@orderwire/platform';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { DeliveryEngine } from '../delivery/engine.js';
import type { ReceiptWriter } from '../delivery/receipts.js';
import type { EdgeMetrics } from '../metrics.js';
import { bindConsumer, createHandshake } from './handshake.js';
import { createRateLimiter } from './rate-limit.js';
import { DisplaySession, type SessionSettings } from './session.js';
import { displayRoom, type EdgeServer, type EdgeSocket } from './types.js';

/** Core subject on which an edge announces a new session, so other nodes end older ones. */
export const TAKEOVER_SUBJECT_PREFIX = EDGE_SUBJECT_PREFIXES.takeover;
/** How long a revoked token family is refused at handshake (≥ any access-token lifetime). @default 1 h */
export const REVOKED_FAMILY_MEMORY_MS = 60 * 60 * 1000;
/** How often expired revoked-family entries are dropped. */
const REVOKED_PRUNE_MS = 60 * 1000;

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
  stream: string;
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
  trustProxy: boolean;
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
  const byConsumer = new Map<string, Set<DisplaySession>>();
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
  const io: EdgeServer = new Server(options.httpServer, {
    path: SOCKET_PATH,
    transports: [...options.transports],
    serveClient: false,
    // The edge keeps no per-socket state worth recovering: the consumer is the mailbox.
    connectionStateRecovery: undefined,
  });
  if (options.adapter !== undefined) io.adapter(options.adapter);

  io.use(
    createHandshake({
      verifier: options.verifier,
      jsm: options.jsm,
      stream: options.stream,
      metrics,
      logger: log,
      allowedOrigins: options.allowedOrigins,
      isAccepting: () => accepting,
      isRevokedFamily,
      rateLimiter,
      trustProxy: options.trustProxy,
    }),
  );

  const sessionContext = {
    engine,
    receipts: options.receipts,
    verifier: options.verifier,
    metrics,
    settings: options.settings,
    isRevokedFamily,
    async consumerExists(name: string): Promise<'present' | 'missing' | 'unknown'> {
      try {
        return (await bindConsumer(options.jsm, options.stream, name)) === undefined ? 'missing' : 'present';
      } catch {
        return 'unknown';
      }
    },
    onClosed(s: DisplaySession): void {
      sessions.delete(s);
      const set = byConsumer.get(s.consumer);
      set?.delete(s);
      if (set?.size === 0) byConsumer.delete(s.consumer);
    },
  };

  /**
   * Ends this node's sessions of `consumer` that started before the newer session `socketId`
   * (started at `at`). A notice that arrives late — NATS or Redis slow — must not end a session
   * that is itself newer, e.g. after the display already moved on again.
   */
  function takeover(consumer: string, socketId: string, at: number): void {
    let n = 0;
    for (const s of [...(byConsumer.get(consumer) ?? [])]) {
      if (s.socketId !== socketId && s.startedAt <= at && s.end('session_replaced', false)) n++;
    }
    if (n > 0) metrics.sessionReplaced.inc(n);
  }

  function endLocal(consumer: string, reason: DisconnectReason, match: (s: DisplaySession) => boolean): number {
    let n = 0;
    for (const s of [...(byConsumer.get(consumer) ?? [])]) if (match(s) && s.end(reason, false)) n++;
    return n;
  }

  io.on('connection', (socket: EdgeSocket) => {
    const { claims, binding } = socket.data;
    // The room lets any node address this display's sockets through the adapter.
    const room = displayRoom(claims.tid, claims.sub);

    // One live session per display. Local older sessions end first, so their messages are
    // handed back before the new mailbox pulls. Other nodes hear it twice, whichever comes
    // first: over NATS (works without Redis, counts the replacement where it happens) and as a
    // server-side event through the Redis adapter. Both carry the new session's start time.
    // A blind room-wide disconnect through the adapter is deliberately not used: delivered
    // late, it would end a session newer than the one that sent it.
    const at = Date.now();
    takeover(binding.name, socket.id, at);
    try {
      const notice: TakeoverNotice = { socketId: socket.id, instance: instanceId, at };
      nc.publish(`${TAKEOVER_SUBJECT_PREFIX}.${binding.name}`, JSON.stringify(notice));
    } catch (err) {
      log.warn({ err }, 'takeover notice not published');
    }
    io.serverSideEmit('takeover', binding.name, socket.id, at);
    void socket.join(room);

    const session = new DisplaySession(socket, sessionContext, log);
    socket.data.session = session;
    sessions.add(session);
    let set = byConsumer.get(binding.name);
    if (set === undefined) byConsumer.set(binding.name, (set = new Set()));
    set.add(session);

    socket.on('auth:refresh', (req, ack) => {
      if (typeof ack !== 'function') return;
      let answered = false;
      const reply: typeof ack = (res) => {
        if (answered) return;
        answered = true;
        ack(res);
      };
      const token: unknown = typeof req === 'object' && req !== null ? (req as { token?: unknown }).token : undefined;
      session.refresh(token).then(reply, (err: unknown) => {
        session.log.error({ err }, 'auth:refresh failed');
        reply({ ok: false, reason: 'internal_error' });
      });
    });
    socket.on('disconnect', (reason) => {
      session.close(reason);
    });
    session.start();
  });

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
      rateLimiter.close();
      if (!nc.isClosed()) {
        takeoverSub.unsubscribe();
        revokedSub.unsubscribe();
      }
      await io.close();
    },
  };
}
