/** Everything the routes and domain modules share, assembled once by `createApp`. */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { AuditAggregator, Logger } from '@orderwire/platform';
import type { AuditLog } from './audit.js';
import type { AuthConfig } from './config.js';
import type { SecretHash } from './crypto/secrets.js';
import type { KeyManager } from './keys/key-manager.js';
import type { AuthMetrics } from './metrics.js';
import type { RevocationAnnouncer } from './revocation.js';
import type { ClientStore } from './stores/clients.js';
import type { DisplayStore } from './stores/display-store.js';
import type { EnrollmentStore } from './stores/enrollments.js';
import type { RefreshFamilyStore } from './stores/refresh-families.js';
import type { TenantStore } from './stores/tenants.js';
import type { TokenIssuer } from './tokens/access-tokens.js';

export interface AuthContext {
  config: AuthConfig;
  logger: Logger;
  metrics: AuthMetrics;
  audit: AuditLog;
  /** Aggregated audit events (failed authentications). */
  failures: AuditAggregator;
  revocations: RevocationAnnouncer;
  /**
   * Live (not decommissioned) displays per tenant, from a watch of `ow_displays`, and the tenants'
   * `maxDisplays` overrides, from a watch of `ow_tenants`: the display quota.
   */
  displayCounts: { live(tenant: string): number; maxDisplays(tenant: string): number | undefined };
  /** `ow_revoked_clients`: what ingest and dlq watch to refuse a revoked client's tokens. */
  revokedClients: KV;
  keys: KeyManager;
  tokens: TokenIssuer;
  tenants: TenantStore;
  clients: ClientStore;
  displays: DisplayStore;
  enrollments: EnrollmentStore;
  families: RefreshFamilyStore;
  jsm: JetStreamManager;
  /** Hash of a secret nobody knows: unknown clients are verified against it (timing). */
  dummySecretHash: SecretHash;
}

/** Who is calling, for audit records. */
export interface RequestInfo {
  ip: string;
  requestId: string;
}
