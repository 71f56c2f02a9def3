import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, DisplayTokenClaims, ServerToClientEvents } from '@orderwire/contracts';
import type { DisplaySession } from './session.js';

/** What the handshake learned about the display's consumer. */
export interface ConsumerBinding {
  /** The consumer pulled from. */
  name: string;
  /** The order stream it is on (the display's store's partition stream, or the one it retires from). */
  stream: string;
  /**
   * The display's identity among sessions (takeover, revocation): its mailbox name
   * `displayConsumerName(tenant, display)`.
   */
  key: string;
  /**
   * Bound to the mailbox a repartition is retiring (ADR 0003): the stream of its twin. The
   * session ends with a reconnect once this one is drained (or deleted), and the next handshake
   * binds the twin, so the display's backlog is delivered in order.
   */
  retiringTo?: string;
  /** The consumer's filter subjects: the doorbells to listen on. */
  filterSubjects: string[];
  ackWaitMs: number;
  /** Messages delivered to someone (another or a dead session) and not yet acked at connect. */
  ackPendingAtConnect: number;
}

/**
 * The claims a session uses, copied out of the verified token: the whole payload (issuer,
 * audience, token id, stations — fresh strings from JSON.parse each) was kept per connected
 * display and read by nothing.
 */
export type SessionClaims = Pick<DisplayTokenClaims, 'sub' | 'tid' | 'sid' | 'fam' | 'iat' | 'exp'>;

export function sessionClaims(c: DisplayTokenClaims): SessionClaims {
  return { sub: c.sub, tid: c.tid, sid: c.sid, fam: c.fam, iat: c.iat, exp: c.exp };
}

export interface SocketData {
  claims: SessionClaims;
  binding: ConsumerBinding;
  session?: DisplaySession;
}

/** Between edge nodes, through the Redis adapter. */
export interface InterServerEvents {
  /** A newer session of `consumer` started on another node as socket `socketId` at epoch ms `at`. */
  takeover: (consumer: string, socketId: string, at: number) => void;
}

export type EdgeServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type EdgeSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

