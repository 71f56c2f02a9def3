/**
 * Live displays per tenant, for the display quota: a watch of `ow_displays` (platform KvMirror)
 * keeps the counts in memory, so a registration checks its tenant's quota without listing the
 * tenant's records. The count lags a write by the watch's latency (milliseconds), so concurrent
 * registrations of one tenant can pass the check together: the quota may be exceeded by the
 * number of registrations in flight at the same instant, never by more.
 *
 * The tenants' `quotas.maxDisplays` overrides come from a watch of `ow_tenants` the same way, so a
 * registration reads no tenant record (one KV request per display less). A registration the
 * watched quota would refuse reads the record before refusing (`checkDisplayQuota`): a quota just
 * raised is honoured at once; one just lowered applies within the watch's latency, like the count.
 */
import { type DisplayRecord } from '@orderwire/contracts';
import { createKvMirror, KV_BUCKETS, type KvMirror, type Logger, type NatsConnection } from '@orderwire/platform';

/** 30000 ms for the first full read of the registry at start. */
export const DISPLAY_COUNTS_SYNC_TIMEOUT_MS = 30_000;

export interface DisplayCounts {
  /** Displays of `tenant` that are not decommissioned. */
  live(tenant: string): number;
  /** The tenant record's `quotas.maxDisplays` as last watched; undefined = no override (or no such tenant). */
  maxDisplays(tenant: string): number | undefined;
  synced(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function createDisplayCounts(options: { nc: NatsConnection; logger: Logger }): Promise<DisplayCounts> {
  /** Tenant of each live display, by registry key: what a change or deletion must un-count. */
  const liveTenantOf = new Map<string, string>();
  const perTenant = new Map<string, number>();
  const add = (tenant: string, n: number): void => {
    const next = (perTenant.get(tenant) ?? 0) + n;
    if (next <= 0) perTenant.delete(tenant);
    else perTenant.set(tenant, next);
  };
  const mirror = await createKvMirror<true>({
    nc: options.nc,
    bucket: KV_BUCKETS.DISPLAYS,
    logger: options.logger,
    // Only the count is kept: the record itself is not needed after it is counted.
    parse: (key, value) => {
      const r = value as Partial<DisplayRecord> | null;
      const before = liveTenantOf.get(key);
      if (before !== undefined) {
        liveTenantOf.delete(key);
        add(before, -1);
      }
      if (r !== null && typeof r.tenant === 'string' && r.status !== 'decommissioned') {
        liveTenantOf.set(key, r.tenant);
        add(r.tenant, 1);
      }
      return true;
    },
    onChange: (key, value) => {
      if (value !== undefined) return;
      // Deleted or purged key.
      const before = liveTenantOf.get(key);
      if (before !== undefined) {
        liveTenantOf.delete(key);
        add(before, -1);
      }
    },
  });
  let overrides: KvMirror<number>;
  try {
    overrides = await createKvMirror<number>({
      nc: options.nc,
      bucket: KV_BUCKETS.TENANTS,
      logger: options.logger,
      // Only tenants with an override are kept (null: dropped silently); the others use the default.
      parse: (_key, value) => {
        const q = (value as { quotas?: { maxDisplays?: unknown } } | null)?.quotas?.maxDisplays;
        return typeof q === 'number' ? q : null;
      },
    });
  } catch (err) {
    await mirror.stop();
    throw err;
  }
  return {
    live: (tenant) => perTenant.get(tenant) ?? 0,
    maxDisplays: (tenant) => overrides.get(tenant),
    synced: async (timeoutMs) => {
      await Promise.all([mirror.synced(timeoutMs), overrides.synced(timeoutMs)]);
    },
    stop: async () => {
      await Promise.all([mirror.stop(), overrides.stop()]);
    },
  };
}
