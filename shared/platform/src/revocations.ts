/**
 * Revoked OAuth clients, as every API that verifies client tokens (ingest, dlq) sees them.
 *
 * The source of truth is KV bucket `ow_revoked_clients` (key = client id), written by auth when a
 * client is revoked (`orderwire-auth client revoke`). Its entries live as long as the longest
 * client token can (`revokedClientsTtlMs` in the topology, above the 24 h maximum of
 * AUTH_CLIENT_TOKEN_TTL), so every token issued before a revocation has expired before its entry
 * goes. A KV watch is both halves of what is needed: the initial read makes a process started
 * later know every live revocation before it is ready, and the watch pushes a new revocation to
 * every running process within milliseconds (JetStream-backed, so unlike a core-NATS signal it is
 * not lost by a subscriber that is reconnecting at that moment: the ordered consumer resumes).
 *
 * The token verifier asks `isRevoked` on every call, cached tokens included.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { createKvMirror } from './kv-mirror.js';
import type { Metrics } from './metrics.js';
import { KV_BUCKETS } from './topology.js';

/** Value stored under the client id in `ow_revoked_clients`. */
export interface RevokedClientRecord {
  v: 1;
  clientId: string;
  tenant: string;
  /** ISO time of the revocation. */
  revokedAt: string;
}

export interface RevocationWatcher {
  isRevoked(claims: { sub: string; tid: string }): boolean;
  /** Resolves once every entry present at start is known; rejects after `timeoutMs`. */
  synced(timeoutMs: number): Promise<void>;
  /** True while the watch runs (readiness detail). */
  watching(): boolean;
  readonly size: number;
  stop(): Promise<void>;
}

export interface RevocationWatcherOptions {
  nc: NatsConnection;
  logger: Logger;
  metrics: Metrics;
}

export async function createRevocationWatcher(options: RevocationWatcherOptions): Promise<RevocationWatcher> {
  const log = options.logger.child({ component: 'revocations' });
  const gauge = options.metrics.gauge({
    name: 'orderwire_revoked_clients',
    help: 'Revoked OAuth clients known to this process (their tokens are refused)',
  });
  gauge.set(0);
  const mirror = await createKvMirror<RevokedClientRecord>({
    nc: options.nc,
    bucket: KV_BUCKETS.REVOKED_CLIENTS,
    logger: options.logger,
    // A malformed entry still names the client in its key: refuse its tokens rather than guess.
    parse: (key, value) => {
      const r = (value ?? {}) as Partial<RevokedClientRecord>;
      return {
        v: 1,
        clientId: key,
        tenant: typeof r.tenant === 'string' ? r.tenant : '',
        revokedAt: typeof r.revokedAt === 'string' ? r.revokedAt : new Date(0).toISOString(),
      };
    },
    onChange: (key, value, synced, size) => {
      gauge.set(size);
      if (synced && value !== undefined) log.info({ clientId: key, tenant: value.tenant }, 'client revoked');
    },
  });
  return {
    // Client ids are unique across tenants (`owc_` + 128 random bits), so the id alone decides.
    isRevoked: ({ sub }) => mirror.get(sub) !== undefined,
    synced: (timeoutMs) => mirror.synced(timeoutMs),
    watching: () => mirror.watching(),
    get size() {
      return mirror.size;
    },
    stop: () => mirror.stop(),
  };
}
