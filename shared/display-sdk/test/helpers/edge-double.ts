/**
 * A real Socket.IO server standing in for an edge node: verifies handshake tokens with the auth
 * double's verdict, answers `auth:refresh`, and records what the display did (handshakes,
 * refreshes, and every ack packet on the wire, so "answered exactly once" can be checked).
 */
import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import type { Socket } from 'socket.io';
import type {
  AuthRefreshResult,
  ClientToServerEvents,
  Delivery,
  DeliveryAck,
  DisconnectReason,
  ServerToClientEvents,
  SessionEnd,
} from '@orderwire/contracts';
import type { AuthDouble } from './auth-double.js';

export type EdgeSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface EdgeDoubleOptions {
  auth: AuthDouble;
  /** Overrides the verdict on a handshake token; `undefined` falls back to the auth double. */
  handshake?: (token: unknown) => DisconnectReason | 'ok' | undefined;
  /** Overrides the answer to `auth:refresh`. */
  authRefresh?: (token: string) => AuthRefreshResult | undefined;
}

export class EdgeDouble {
  readonly io: Server<ClientToServerEvents, ServerToClientEvents>;
  /** Tokens presented in handshakes, accepted or not. */
  readonly handshakeTokens: unknown[] = [];
  readonly transports: string[] = [];
  /** Tokens received with `auth:refresh`. */
  readonly refreshTokens: string[] = [];
  /** Ack packets received per ack id (socket.io ACK packets, counted on the engine). */
  readonly ackPackets = new Map<string, number>();
  accepted = 0;
  rejected: string[] = [];
  handshake: EdgeDoubleOptions['handshake'];
  authRefresh: EdgeDoubleOptions['authRefresh'];
  private readonly http: HttpServer;
  private portValue = 0;

  constructor(private readonly options: EdgeDoubleOptions) {
    this.handshake = options.handshake;
    this.authRefresh = options.authRefresh;
    this.http = createServer();
    this.io = new Server<ClientToServerEvents, ServerToClientEvents>(this.http, {
      path: '/socket.io',
      transports: ['websocket'],
    });
    this.io.use((socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown }).token;
      this.handshakeTokens.push(token);
      const verdict = this.handshake?.(token) ?? this.options.auth.checkAccess(token);
      if (verdict === 'ok') {
        this.accepted++;
        next();
        return;
      }
      this.rejected.push(verdict);
      const err = new Error(verdict) as Error & { data?: unknown };
      err.data = { reason: verdict };
      next(err);
    });
    this.io.on('connection', (socket) => {
      this.transports.push(socket.conn.transport.name);
      socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
        // Socket.IO ACK packets on the main namespace are encoded as "3<id>[...]".
        if (packet.type !== 'message' || typeof packet.data !== 'string') return;
        const match = /^3(\d+)\[/.exec(packet.data);
        if (match?.[1] !== undefined) this.ackPackets.set(match[1], (this.ackPackets.get(match[1]) ?? 0) + 1);
      });
      socket.on('auth:refresh', (req, ack) => {
        this.refreshTokens.push(req.token);
        const custom = this.authRefresh?.(req.token);
        if (custom !== undefined) return ack(custom);
        const verdict = this.options.auth.checkAccess(req.token);
        if (verdict !== 'ok') return ack({ ok: false, reason: verdict });
        ack({ ok: true, expiresAt: (this.options.auth.accessTokens.get(req.token)?.exp ?? 0) * 1000 });
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.portValue}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(0, '127.0.0.1', () => resolve());
    });
    this.portValue = (this.http.address() as AddressInfo).port;
    return this;
  }

  sockets(): EdgeSocket[] {
    return [...this.io.of('/').sockets.values()];
  }

  /** Sends a batch to the (single) connected display and returns its answer. */
  async send(batch: Delivery[], timeoutMs = 5_000): Promise<DeliveryAck> {
    const [socket] = this.sockets();
    if (socket === undefined) throw new Error('no display connected');
    return socket.timeout(timeoutMs).emitWithAck('orders', batch);
  }

  endSession(info: SessionEnd): void {
    for (const socket of this.sockets()) {
      socket.emit('session:end', info);
      socket.disconnect(true);
    }
  }

  async close(): Promise<void> {
    await this.io.close();
  }
}

export async function startEdgeDouble(options: EdgeDoubleOptions): Promise<EdgeDouble> {
  return new EdgeDouble(options).start();
}

export function delivery(seq: number, overrides: Partial<Delivery> = {}): Delivery {
  return {
    deliveryId: `ORDERS:${seq}`,
    orderId: `order-${seq}`,
    seq,
    deliveryCount: 1,
    acceptedAt: Date.now(),
    order: { orderId: `order-${seq}`, items: [{ name: 'coffee', qty: 1 }] },
    ...overrides,
  };
}
