/**
 * What the auth service needs of the JetStream topology, verified at start. Auth's CLI is the
 * topology's one owner (`topology apply`, with `loadTopologyApplyConfig`); the service itself
 * never creates or changes a stream or bucket.
 */
import { KV_BUCKETS, STREAMS, type TopologyRequirements } from '@orderwire/platform';
import { authTopologyLifetimes, type AuthLifetimes } from './config.js';

/**
 * Every bucket auth opens, with TTLs that keep each record at least as long as it is valid (a
 * shorter TTL would make refresh families, enrollment codes or the rotation lease vanish
 * early); AUDIT to append to; ORDERS for the display consumers it creates.
 */
export function authTopologyRequirements(config: AuthLifetimes): Omit<TopologyRequirements, 'service'> {
  const lt = authTopologyLifetimes(config);
  return {
    streams: [STREAMS.AUDIT, STREAMS.ORDERS],
    buckets: [
      KV_BUCKETS.TENANTS,
      KV_BUCKETS.CLIENTS,
      KV_BUCKETS.DISPLAYS,
      { bucket: KV_BUCKETS.ENROLLMENTS, minTtl: lt.enrollmentTtlMs },
      { bucket: KV_BUCKETS.REFRESH_TOKENS, minTtl: lt.refreshTokenTtlMs },
      KV_BUCKETS.SIGNING_KEYS,
      { bucket: KV_BUCKETS.LEASES, minTtl: lt.leaseTtlMs },
    ],
  };
}
