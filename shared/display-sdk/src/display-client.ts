/**
 * The display's connection to the edge: Socket.IO over websocket, token from the TokenManager on
 * every (re)connect, in-band token refresh on the live socket, reconnect with backoff across the
 * configured edge nodes, and the delivery processor behind the `orders` event.
 */
import type {
  AuthRefreshResult,
  ClientToServerEvents,
  HandshakeErrorData,
  OrdersExpired,
  OrdersExpiredAck,
  ServerToClientEvents,
  SessionEnd,
} from '@orderwire/contracts';
import { io as socketIo } from 'socket.io-client';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import { createDeliveryProcessor, DEFAULT_DEDUPE_WINDOW } from './delivery.js';
import type { DeliveryProcessor, DeliveryStats, OrderHandler } from './delivery.js';
import { EventHub } from './emitter.js';
import type { Subscribable } from './emitter.js';
import { DisplaySdkError, describeError, isDisplaySdkError } from './errors.js';
import { backoffDelay, clampDelay, systemTimers } from './timing.js';
import type { BackoffPolicy, Timers } from './timing.js';
import type { ReenrollInfo, TokenManager } from './token-manager.js';

/** First reconnect delay; doubles per failed attempt (with jitter) up to the max below. */
export const DEFAULT_RECONNECT_BASE_MS = 500;
/** Longest reconnect delay: a display offline for long still comes back within this. */
export const DEFAULT_RECONNECT_MAX_MS = 30_000;
/** Handshake (transport open + auth) must finish within this. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** The edge must answer `auth:refresh` within this, or the socket is replaced. */
export const DEFAULT_AUTH_REFRESH_TIMEOUT_MS = 10_000;

/**
 * The contract's `SOCKET_PATH`. Restated rather than imported: importing any value from
 * @orderwire/contracts pulls its schemas (TypeBox, ~400 kB) into every browser bundle. A test
 * pins the two together.
 */
export const EDGE_SOCKET_PATH = '/socket.io';

type EdgeSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The `orders:expired` payload's shape (checked here: contracts' checkers would pull TypeBox in). */
function isOrdersExpired(v: unknown): v is OrdersExpired {
  if (v === null || typeof v !== 'object') return false;
  const n = v as Partial<OrdersExpired>;
  return (
    typeof n.total === 'number' &&
    Array.isArray(n.orders) &&
    n.total >= n.orders.length &&
    n.orders.every((o: unknown) => {
      const e = o as { orderId?: unknown; expiredAt?: unknown; acceptedAt?: unknown } | null;
      return e !== null && typeof e === 'object' && typeof e.orderId === 'string' && typeof e.expiredAt === 'number' && typeof e.acceptedAt === 'number';
    })
  );
}

/** socket.io-client's `io()` (injectable for tests or a custom build). */
export type IoFactory = (uri: string, opts: Partial<ManagerOptions & SocketOptions>) => Socket;

export interface DisplayClientOptions {
  /** Edge node URLs; on failure or drain the client moves to the next one. */
  edgeUrls: string[];
  tokens: TokenManager;
  /** @default socket.io-client `io` */
  io?: IoFactory;
  /** Ids remembered for dedupe (each of deliveryId and orderId). @default 10_000 */
  dedupeWindow?: number;
  /** Reconnect backoff. @default { baseMs: 500, maxMs: 30_000 } */
  reconnect?: Partial<BackoffPolicy>;
  /** @default 10_000 */
  connectTimeoutMs?: number;
  /** @default 10_000 */
  authRefreshTimeoutMs?: number;
  /** @default globalThis.setTimeout / clearTimeout */
  timers?: Timers;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * Allow plain `http:`/`ws:` edge URLs. Tokens travel on this connection, so only local
   * development (npm start, tests) may say so. @default false — `https:`/`wss:` only
   */
  development?: boolean;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface ConnectedInfo {
  url: string;
}

export interface DisconnectedInfo {
  url: string;
  /** socket.io's disconnect reason, or the edge's `session:end` reason, or `auth_refresh_rejected`. */
  reason: string;
}

export interface SessionEndInfo extends SessionEnd {
  url: string;
}

/** Orders that expired while this display was away (`orders:expired`), told once. */
export interface OrdersExpiredInfo extends OrdersExpired {
  url: string;
}

export interface DisplayClientEvents<TOrder = unknown> {
  /**
   * A new order to show. Awaited: return (or resolve) once it is on screen; throw (or reject) to
   * refuse it — the delivery is rejected with the error's message and redelivered later.
   */
  order: OrderHandler<TOrder>;
  connected: (info: ConnectedInfo) => void;
  disconnected: (info: DisconnectedInfo) => void;
  /** The edge ended the session; with `reconnect: false` the client has stopped. */
  session_end: (info: SessionEndInfo) => void;
  /** The display's identity is no longer accepted; the client has stopped. Enroll again. */
  reenroll_required: (info: ReenrollInfo) => void;
  /**
   * Orders that aged out of this display's mailbox before it acknowledged them (it was offline
   * longer than the orders are kept): `orders` (at most 200, oldest first) and `total`. Sent once
   * after a connection; the client acknowledges it after the listeners ran, so it is not repeated.
   */
  orders_expired: (info: OrdersExpiredInfo) => void;
  error: (err: DisplaySdkError) => void;
}

export interface DisplayClient<TOrder = unknown> extends Subscribable<DisplayClientEvents<TOrder>> {
  /** Starts connecting (no-op when running). Failures are reported on events, never thrown. */
  start(): void;
  /** Disconnects and stops reconnecting. `start()` may be called again later. */
  stop(): void;
  stats(): DeliveryStats;
  readonly state: ClientState;
  /** The edge URL currently connected to or being tried. */
  readonly url: string;
}

export function createDisplayClient<TOrder = unknown>(options: DisplayClientOptions): DisplayClient<TOrder> {
  return new DisplayClientImpl<TOrder>(options);
}

interface Session {
  socket: EdgeSocket;
  url: string;
  connected: boolean;
  /** The token this socket last presented (handshake or auth:refresh). */
  sentToken: string | undefined;
}

class DisplayClientImpl<TOrder> implements DisplayClient<TOrder> {
  private readonly hub = new EventHub<DisplayClientEvents<TOrder>>();
  private readonly edgeUrls: readonly string[];
  private readonly tokens: TokenManager;
  private readonly io: IoFactory;
  private readonly processor: DeliveryProcessor;
  private readonly backoff: BackoffPolicy;
  private readonly connectTimeoutMs: number;
  private readonly authRefreshTimeoutMs: number;
  private readonly timers: Timers;
  private readonly random: () => number;

  private running = false;
  private stateValue: ClientState = 'idle';
  private urlIndex = 0;
  /** Consecutive failed attempts; reset by a successful connect. */
  private failures = 0;
  /** Bumped by every connect and by stop(): async steps of an older attempt then stand down. */
  private attemptSeq = 0;
  private session: Session | undefined;
  private reconnectTimer: unknown;
  /** The next handshake uses a token refreshed because the edge refused the previous one. */
  private freshToken = false;
  private unsubscribe: (() => void)[] = [];

  constructor(options: DisplayClientOptions) {
    if (!Array.isArray(options.edgeUrls) || options.edgeUrls.length === 0) {
      invalid('edgeUrls must be a non-empty array');
    }
    for (const url of options.edgeUrls) validateEdgeUrl(url, options.development === true);
    if (options.tokens === undefined || typeof options.tokens.getAccessToken !== 'function') {
      invalid('tokens must be a TokenManager');
    }
    this.edgeUrls = [...options.edgeUrls];
    this.tokens = options.tokens;
    this.io = options.io ?? socketIo;
    const dedupeWindow = options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW;
    if (!Number.isInteger(dedupeWindow) || dedupeWindow < 1) invalid('dedupeWindow must be an integer ≥ 1');
    this.backoff = {
      baseMs: positive('reconnect.baseMs', options.reconnect?.baseMs ?? DEFAULT_RECONNECT_BASE_MS),
      maxMs: positive('reconnect.maxMs', options.reconnect?.maxMs ?? DEFAULT_RECONNECT_MAX_MS),
    };
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.authRefreshTimeoutMs = positive(
      'authRefreshTimeoutMs',
      options.authRefreshTimeoutMs ?? DEFAULT_AUTH_REFRESH_TIMEOUT_MS,
    );
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? Math.random;
    this.processor = createDeliveryProcessor<TOrder>({
      dedupeWindow,
      handlers: () => this.hub.listeners('order'),
      onError: (err) => this.hub.emitError(err),
    });
  }

  get state(): ClientState {
    return this.stateValue;
  }

  get url(): string {
    return this.edgeUrls[this.urlIndex]!;
  }

  on<K extends keyof DisplayClientEvents<TOrder>>(event: K, listener: DisplayClientEvents<TOrder>[K]): () => void {
    return this.hub.on(event, listener);
  }

  off<K extends keyof DisplayClientEvents<TOrder>>(event: K, listener: DisplayClientEvents<TOrder>[K]): void {
    this.hub.off(event, listener);
  }

  stats(): DeliveryStats {
    return this.processor.stats();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.freshToken = false;
    this.unsubscribe = [
      this.tokens.on('tokens', () => {
        void this.pushToken(this.session);
      }),
      this.tokens.on('reenroll_required', (info) => this.reenroll(info)),
    ];
    void this.connect();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.attemptSeq++;
    this.cancelReconnect();
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    const dropped = this.dropSession();
    this.stateValue = 'stopped';
    if (dropped?.wasConnected === true) {
      this.hub.emit('disconnected', { url: dropped.session.url, reason: 'io client disconnect' });
    }
  }

  // --- connection lifecycle ----------------------------------------------------------------

  private async connect(): Promise<void> {
    const seq = ++this.attemptSeq;
    this.stateValue = 'connecting';
    try {
      // Have a usable token before opening a socket, so a slow auth service never leaves a
      // half-open handshake waiting on the edge.
      await this.tokens.getAccessToken();
    } catch (err) {
      if (seq === this.attemptSeq && this.running) this.tokenUnavailable(err);
      return;
    }
    if (seq !== this.attemptSeq || !this.running) return;

    const url = this.url;
    const session = { url, connected: false, sentToken: undefined } as Omit<Session, 'socket'> as Session;
    session.socket = this.io(url, {
      path: EDGE_SOCKET_PATH,
      transports: ['websocket'],
      // This client reconnects itself: it rotates edge nodes and refreshes tokens in between.
      reconnection: false,
      forceNew: true,
      timeout: this.connectTimeoutMs,
      auth: (cb: (data: object) => void) => this.provideToken(session, cb),
    });
    const socket = session.socket;
    this.session = session;
    socket.on('connect', () => this.onConnect(session));
    socket.on('connect_error', (err) => this.onConnectError(session, err));
    socket.on('disconnect', (reason) => this.onDisconnect(session, reason));
    socket.on('session:end', (info) => this.onSessionEnd(session, info));
    socket.on('orders', (batch, ack) => {
      // handleBatch never rejects: failures become rejects or error events inside it.
      void this.processor.handleBatch(batch, ack);
    });
    socket.on('orders:expired', (notice, ack) => this.onOrdersExpired(session, notice, ack));
  }

  /** Surfaces the notice, then acks it (listener errors are reported by the hub, not thrown). */
  private onOrdersExpired(session: Session, notice: unknown, ack: unknown): void {
    if (session !== this.session) return;
    if (!isOrdersExpired(notice)) {
      // Not acked: the edge tells it again on the next connection.
      this.hub.emitError(new DisplaySdkError('ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY', { reason: 'orders:expired without a valid notice' }));
      return;
    }
    this.hub.emit('orders_expired', { orders: notice.orders, total: notice.total, url: session.url });
    if (typeof ack === 'function') (ack as (answer: OrdersExpiredAck) => void)({ ok: true });
  }

  /** Socket.IO's `auth` callback: runs on every handshake, so it always sends the current token. */
  private provideToken(session: Session, cb: (data: object) => void): void {
    this.tokens.getAccessToken().then(
      (token) => {
        session.sentToken = token;
        cb({ token });
      },
      (err: unknown) => {
        if (session !== this.session) return;
        this.dropSession();
        this.tokenUnavailable(err);
      },
    );
  }

  private onConnect(session: Session): void {
    if (session !== this.session) return;
    session.connected = true;
    this.failures = 0;
    this.freshToken = false;
    this.stateValue = 'connected';
    this.hub.emit('connected', { url: session.url });
    // Tokens may have rotated between the handshake and now.
    void this.pushToken(session);
  }

  private onConnectError(session: Session, err: Error & { data?: unknown }): void {
    if (session !== this.session) return;
    this.dropSession();
    const data = err.data as Partial<HandshakeErrorData> | undefined;
    const reason = typeof data?.reason === 'string' ? data.reason : undefined;
    const failure = new DisplaySdkError(
      'ORDERWIRE_ERR_SDK_CONNECT_FAILED',
      { url: session.url, reason: reason ?? err.message },
      { cause: err, ...(reason === undefined ? {} : { serverCode: reason }) },
    );
    switch (reason) {
      case 'token_expired':
      case 'unauthorized':
      case 'token_revoked':
        if (!this.freshToken) {
          void this.refreshAndReconnect();
          return;
        }
        this.hub.emitError(failure);
        if (reason === 'token_expired') {
          // A just-minted token called expired points at clock trouble, not at the identity.
          this.scheduleReconnect(true);
        } else {
          this.reenroll({ reason, message: `the edge refused a freshly refreshed token (${reason})` });
        }
        return;
      case 'forbidden_origin':
      case 'display_decommissioned':
        // Retrying cannot change either answer.
        this.hub.emitError(failure);
        this.stop();
        return;
      default:
        this.hub.emitError(failure);
        this.scheduleReconnect(true);
    }
  }

  private onDisconnect(session: Session, reason: string): void {
    if (session !== this.session) return;
    this.dropSession();
    this.hub.emit('disconnected', { url: session.url, reason });
    // A dropped transport usually means the node went away: try the next one. A plain server
    // disconnect (no session:end) keeps the node.
    this.scheduleReconnect(reason !== 'io server disconnect');
  }

  private onSessionEnd(session: Session, info: SessionEnd): void {
    if (session !== this.session) return;
    this.dropSession();
    this.hub.emit('session_end', { ...info, url: session.url });
    this.hub.emit('disconnected', { url: session.url, reason: info.reason });
    if (!this.running) return;
    if (!info.reconnect) {
      this.stop();
      if (info.reason === 'token_revoked' || info.reason === 'display_decommissioned') this.probeFamily();
      return;
    }
    if (info.reason === 'token_expired') {
      void this.refreshAndReconnect();
      return;
    }
    // A draining node: move on at once, spread over a short jitter so one node's displays do
    // not all land on the next node in the same millisecond.
    this.rotate();
    this.failures = 0;
    this.scheduleReconnect(false, Math.round(this.random() * this.backoff.baseMs));
  }

  /** The edge refused our token: get a new one (single-flight in the TokenManager), then retry. */
  private async refreshAndReconnect(): Promise<void> {
    const seq = this.attemptSeq;
    this.stateValue = 'connecting';
    try {
      await this.tokens.refresh();
    } catch (err) {
      if (seq === this.attemptSeq && this.running) this.tokenUnavailable(err);
      return;
    }
    if (seq !== this.attemptSeq || !this.running) return;
    this.freshToken = true;
    await this.connect();
  }

  /** Sends the current token on the live socket when it differs from what the socket last sent. */
  private async pushToken(session: Session | undefined): Promise<void> {
    if (session === undefined || !session.connected) return;
    let token: string;
    try {
      token = await this.tokens.getAccessToken();
    } catch {
      // Not enrolled / re-enroll / closed: announced by the TokenManager's own events.
      return;
    }
    if (session !== this.session || !session.connected || session.sentToken === token) return;
    session.sentToken = token;
    let result: unknown;
    try {
      result = await session.socket.timeout(this.authRefreshTimeoutMs).emitWithAck('auth:refresh', { token });
    } catch {
      if (session !== this.session) return;
      this.refreshRejected(session, `no answer within ${this.authRefreshTimeoutMs} ms`);
      return;
    }
    if (session !== this.session) return;
    if (!isAuthRefreshResult(result)) {
      this.refreshRejected(session, 'malformed answer to auth:refresh');
      return;
    }
    if (!result.ok) this.refreshRejected(session, result.reason);
  }

  /** The live socket kept its old token: replace it by a new handshake with the current token. */
  private refreshRejected(session: Session, reason: string): void {
    this.hub.emitError(new DisplaySdkError('ORDERWIRE_ERR_SDK_AUTH_REFRESH_REJECTED', { reason }));
    this.dropSession();
    this.hub.emit('disconnected', { url: session.url, reason: 'auth_refresh_rejected' });
    if (!this.running) return;
    this.failures = 0;
    void this.connect();
  }

  private tokenUnavailable(err: unknown): void {
    // Re-enrollment was announced by the TokenManager and handled by reenroll().
    if (isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED')) {
      if (this.running) this.reenroll({ reason: err.serverCode ?? 'unknown', message: err.message });
      return;
    }
    const sdkErr = isDisplaySdkError(err)
      ? err
      : new DisplaySdkError('ORDERWIRE_ERR_SDK_INTERNAL', { operation: 'token lookup', reason: describeError(err) }, { cause: err });
    this.hub.emitError(sdkErr);
    if (isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_NOT_ENROLLED') || isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_CLOSED')) {
      this.stop();
      return;
    }
    this.scheduleReconnect(false);
  }

  private reenroll(info: ReenrollInfo): void {
    if (!this.running) return;
    this.stop();
    this.hub.emit('reenroll_required', info);
  }

  /** After a revocation notice, ask the auth service whether the family is dead (it answers 401 if so). */
  private probeFamily(): void {
    this.tokens.refresh().then(undefined, (err: unknown) => {
      if (isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_REENROLL_REQUIRED')) {
        this.hub.emit('reenroll_required', { reason: err.serverCode ?? 'unknown', message: err.message });
      } else if (!isDisplaySdkError(err, 'ORDERWIRE_ERR_SDK_NOT_ENROLLED')) {
        this.hub.emitError(
          isDisplaySdkError(err)
            ? err
            : new DisplaySdkError('ORDERWIRE_ERR_SDK_INTERNAL', { operation: 'revocation probe', reason: describeError(err) }, { cause: err }),
        );
      }
    });
  }

  private scheduleReconnect(rotate: boolean, delayMs?: number): void {
    if (!this.running) return;
    if (rotate) this.rotate();
    this.failures++;
    // After a pause the next refusal deserves a fresh refresh again.
    this.freshToken = false;
    this.cancelReconnect();
    const delay = clampDelay(delayMs ?? backoffDelay(this.failures, this.backoff, this.random));
    const seq = this.attemptSeq;
    this.stateValue = 'waiting';
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (seq === this.attemptSeq && this.running) void this.connect();
    }, delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== undefined) {
      this.timers.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
  }

  private rotate(): void {
    this.urlIndex = (this.urlIndex + 1) % this.edgeUrls.length;
  }

  private dropSession(): { session: Session; wasConnected: boolean } | undefined {
    const session = this.session;
    if (session === undefined) return undefined;
    // Cleared first: the socket's own 'disconnect' event then finds a stale session and stands down.
    this.session = undefined;
    const wasConnected = session.connected;
    session.connected = false;
    session.socket.disconnect();
    return { session, wasConnected };
  }
}

function isAuthRefreshResult(value: unknown): value is AuthRefreshResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.ok === true || (v.ok === false && typeof v.reason === 'string');
}

function invalid(reason: string): never {
  throw new DisplaySdkError('ORDERWIRE_ERR_SDK_INVALID_OPTIONS', { reason });
}

function positive(name: string, value: number): number {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) invalid(`${name} must be a positive number`);
  return value;
}

function validateEdgeUrl(value: unknown, development: boolean): void {
  if (typeof value !== 'string') invalid('every edge URL must be a string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid(`edge URL ${value} is not a URL`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) invalid(`edge URL ${value} must be http(s) or ws(s)`);
  if (!development && (url.protocol === 'http:' || url.protocol === 'ws:')) {
    invalid(`edge URL ${value} is not encrypted; use https:/wss:, or pass development: true for local development`);
  }
}
