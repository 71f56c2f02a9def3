/** The topology options auth passes to `ensureTopology` (service and CLI alike). */
import { TOPOLOGY_DEFAULTS, type TopologyOptions } from '@orderwire/platform';
import type { AuthConfig } from './config.js';

/**
 * Bucket TTLs only garbage-collect — expiry is checked inside each record — so they are kept
 * at least as long as the configured lifetimes (never shorter than the platform defaults, so
 * services running with defaults do not flip the settings back and forth).
 */
export function authTopologyOptions(config: AuthConfig): TopologyOptions {
  return {
    enrollmentTtlMs: Math.max(TOPOLOGY_DEFAULTS.enrollmentTtlMs, 2 * config.enrollmentTtlMs),
    refreshTokenTtlMs: Math.max(TOPOLOGY_DEFAULTS.refreshTokenTtlMs, config.refreshTtlMs),
    leaseTtlMs: Math.max(TOPOLOGY_DEFAULTS.leaseTtlMs, config.leaseTtlMs),
  };
}
