/** Tenants in KV `ow_tenants`, one record per tenant id. */
import type { KV } from '@nats-io/kv';
import { assertId } from '@orderwire/contracts';
import { AUTH_ERRORS } from '../errors.js';
import { createJson, listKeys, readJson } from '../kv.js';

export interface TenantRecord {
  v: 1;
  tenant: string;
  name: string;
  status: 'active';
  createdAt: string;
}

export interface TenantStore {
  get(tenant: string): Promise<TenantRecord | undefined>;
  /** @throws ORDERWIRE_ERR_AUTH_TENANT_EXISTS */
  create(tenant: string, name?: string): Promise<TenantRecord>;
  /** Creates the tenant unless it exists; returns it either way. */
  ensure(tenant: string, name?: string): Promise<{ tenant: TenantRecord; created: boolean }>;
  list(): Promise<TenantRecord[]>;
}

export function createTenantStore(kv: KV): TenantStore {
  async function get(tenant: string): Promise<TenantRecord | undefined> {
    return (await readJson<TenantRecord>(kv, assertId('tenant', tenant)))?.value;
  }
  async function tryCreate(tenant: string, name?: string): Promise<TenantRecord | undefined> {
    const record: TenantRecord = {
      v: 1,
      tenant: assertId('tenant', tenant),
      name: name ?? tenant,
      status: 'active',
      createdAt: new Date().toISOString(),
    };
    return (await createJson(kv, tenant, record)) === undefined ? undefined : record;
  }
  return {
    get,
    async create(tenant, name) {
      const created = await tryCreate(tenant, name);
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
    async list() {
      const keys = await listKeys(kv);
      const records = await Promise.all(keys.map((k) => readJson<TenantRecord>(kv, k)));
      return records.flatMap((r) => (r === undefined ? [] : [r.value])).sort((a, b) => a.tenant.localeCompare(b.tenant));
    },
  };
}
