/** Tenants in KV `ow_tenants`, one record per tenant id. */
import type { KV } from '@nats-io/kv';
import { assertId } from '@orderwire/contracts';
import { AUTH_ERRORS } from '../errors.js';
import { createJson, listKeys, mutateJson, readJson } from '../kv.js';

/**
 * Per-tenant overrides of the global quota defaults (AUTH_TENANT_MAX_DISPLAYS,
 * INGEST_TENANT_ORDERS_PER_MINUTE). Absent = the default applies. Ingest reads `ordersPerMinute`
 * from this bucket through a watch.
 */
export interface TenantQuotas {
  /** Displays registered at once (decommissioned ones do not count). */
  maxDisplays?: number;
  /** Order publishes per minute: one per station order, one per target display of a targeted order. */
  ordersPerMinute?: number;
}

export interface TenantRecord {
  v: 1;
  tenant: string;
  name: string;
  status: 'active';
  createdAt: string;
  quotas?: TenantQuotas;
}

export interface TenantStore {
  get(tenant: string): Promise<TenantRecord | undefined>;
  /** @throws ORDERWIRE_ERR_AUTH_TENANT_EXISTS */
  create(tenant: string, name?: string, quotas?: TenantQuotas): Promise<TenantRecord>;
  /** Sets (number) or clears (null) quota overrides. @throws ORDERWIRE_ERR_AUTH_TENANT_NOT_FOUND */
  setQuotas(tenant: string, quotas: { [K in keyof TenantQuotas]?: number | null }): Promise<TenantRecord>;
  /** Creates the tenant unless it exists; returns it either way. */
  ensure(tenant: string, name?: string): Promise<{ tenant: TenantRecord; created: boolean }>;
  list(): Promise<TenantRecord[]>;
}

export function createTenantStore(kv: KV): TenantStore {
  async function get(tenant: string): Promise<TenantRecord | undefined> {
    return (await readJson<TenantRecord>(kv, assertId('tenant', tenant)))?.value;
  }
  async function tryCreate(tenant: string, name?: string, quotas?: TenantQuotas): Promise<TenantRecord | undefined> {
    const record: TenantRecord = {
      v: 1,
      tenant: assertId('tenant', tenant),
      name: name ?? tenant,
      status: 'active',
      createdAt: new Date().toISOString(),
    };
    if (quotas !== undefined && Object.keys(quotas).length > 0) record.quotas = quotas;
    return (await createJson(kv, tenant, record)) === undefined ? undefined : record;
  }
  return {
    get,
    async create(tenant, name, quotas) {
      const created = await tryCreate(tenant, name, quotas);
      if (created === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_TENANT_EXISTS', { tenant });
      return created;
    },
    async ensure(tenant, name) {
      const created = await tryCreate(tenant, name);
      if (created !== undefined) return { tenant: created, created: true };
      const existing = await get(tenant);
      if (existing === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_CONFLICT', { what: `tenant ${tenant}` });
      return { tenant: existing, created: false };
    },
    async setQuotas(tenant, changes) {
      const out = await mutateJson<TenantRecord>(
        kv,
        assertId('tenant', tenant),
        (cur) => {
          const quotas: TenantQuotas = { ...cur.quotas };
          for (const [k, v] of Object.entries(changes) as [keyof TenantQuotas, number | null | undefined][]) {
            if (v === null) delete quotas[k];
            else if (v !== undefined) quotas[k] = v;
          }
          const { quotas: _old, ...rest } = cur;
          return Object.keys(quotas).length === 0 ? rest : { ...rest, quotas };
        },
        `tenant ${tenant}`,
      );
      if (out === undefined) throw AUTH_ERRORS.create('ORDERWIRE_ERR_AUTH_TENANT_NOT_FOUND', { tenant });
      return out.value;
    },
    async list() {
      const keys = await listKeys(kv);
      const records = await Promise.all(keys.map((k) => readJson<TenantRecord>(kv, k)));
      return records.flatMap((r) => (r === undefined ? [] : [r.value])).sort((a, b) => a.tenant.localeCompare(b.tenant));
    },
  };
}
