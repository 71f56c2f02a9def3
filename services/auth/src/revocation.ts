/**
 * Revocation announcements. The durable truth is the family status in KV; this core-NATS
 * signal is the fast path that lets edge nodes drop live sockets within a second. An edge that
 * misses it (disconnected at that instant) still stops the socket when the access token
 * expires, because the refresh that would extend it fails against KV.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { SIGNALS } from '@orderwire/contracts';
import type { Logger } from '@orderwire/platform';

export type RevocationSignalReason = 'token_revoked' | 'display_decommissioned';

/** Payload on `SIGNALS.displayRevoked(tenant, displayId)`. */
export interface DisplayRevokedSignal {
  tenant: string;
  displayId: string;
  /** Set when one token family was revoked; absent when every session of the display ends. */
  familyId?: string;
  reason: RevocationSignalReason;
  at: string;
}

export interface RevocationAnnouncer {
  announce(signal: Omit<DisplayRevokedSignal, 'at'>): Promise<void>;
}

export function createRevocationAnnouncer(nc: NatsConnection, logger: Logger): RevocationAnnouncer {
  return {
    async announce(signal) {
      const payload: DisplayRevokedSignal = { ...signal, at: new Date().toISOString() };
      try {
        nc.publish(SIGNALS.displayRevoked(signal.tenant, signal.displayId), JSON.stringify(payload));
        // Core publish is buffered; flushing makes "announced" mean "reached the server".
        await nc.flush();
      } catch (err) {
        // KV already holds the revocation; edges fall back to access-token expiry.
        logger.error({ err, signal: payload }, 'revocation announcement failed');
      }
    },
  };
}
