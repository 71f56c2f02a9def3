/**
 * Connections per client address on this node. Two bounds, both released when the transport
 * connection closes (so nothing leaks, whatever path the close takes):
 * - sessions: Socket.IO handshakes admitted per address (refused with `rate_limited`, which the
 *   display sees in `connect_error`);
 * - transports: raw engine.io connections per address, at RAW_CONNECTION_FACTOR × the session
 *   cap — a client that opens transports and never completes a handshake is refused at the
 *   HTTP upgrade (403) and closed after EDGE_CONNECT_TIMEOUT in any case.
 */

/** Raw transport connections allowed per address, as a multiple of the session cap. */
export const RAW_CONNECTION_FACTOR = 2;

/** What the cap needs of an engine.io connection. */
export interface TransportConnection {
  once(event: 'close', listener: () => void): unknown;
}

export interface ConnectionCap {
  /** Before a new transport connection is accepted: false when the address already holds too many. */
  allowTransport(address: string): boolean;
  /** Counts an accepted transport connection until it closes. */
  trackTransport(conn: TransportConnection, address: string): void;
  /** At the Socket.IO handshake: false when the address already has `maxPerAddress` sessions. */
  admit(conn: TransportConnection, address: string): boolean;
  /** Addresses with at least one transport connection. */
  readonly addresses: number;
}

/** `maxPerAddress` 0 disables both bounds. */
export function createConnectionCap(maxPerAddress: number): ConnectionCap {
  const transports = new Map<string, number>();
  const sessions = new Map<string, Set<TransportConnection>>();
  return {
    allowTransport(address) {
      return maxPerAddress <= 0 || (transports.get(address) ?? 0) < maxPerAddress * RAW_CONNECTION_FACTOR;
    },
    trackTransport(conn, address) {
      transports.set(address, (transports.get(address) ?? 0) + 1);
      conn.once('close', () => {
        const n = (transports.get(address) ?? 1) - 1;
        if (n <= 0) transports.delete(address);
        else transports.set(address, n);
        const set = sessions.get(address);
        set?.delete(conn);
        if (set?.size === 0) sessions.delete(address);
      });
    },
    admit(conn, address) {
      if (maxPerAddress <= 0) return true;
      let set = sessions.get(address);
      if (set === undefined) sessions.set(address, (set = new Set()));
      if (set.has(conn)) return true;
      if (set.size >= maxPerAddress) return false;
      set.add(conn);
      return true;
    },
    get addresses() {
      return transports.size;
    },
  };
}
