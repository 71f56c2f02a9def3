/**
 * The display registry in KV `ow_displays` (read and watched by ingest and edge), keyed by
 * `displayRegistryKey(tenant, displayId)`. Written only by this service, always with CAS.
 */
import type { KV } from '@nats-io/kv';
import { displayRegistryKey, type DisplayRecord } from '@orderwire/contracts';
import { createJson, listKeys, mutateJson, readJson, updateJson, type Versioned } from '../kv.js';

export interface DisplayStore {
  get(tenant: string, displayId: string): Promise<Versioned<DisplayRecord> | undefined>;
  /** Creates the record, or replaces the one at `revision`; undefined when another writer won. */
  write(record: DisplayRecord, revision: number | undefined): Promise<number | undefined>;
  /** CAS read-modify-write; `current`, when just read, saves the first read. */
  mutate(
    tenant: string,
    displayId: string,
    change: (cur: DisplayRecord) => DisplayRecord | undefined,
    current?: Versioned<DisplayRecord>,
  ): Promise<DisplayRecord | undefined>;
  list(tenant: string): Promise<DisplayRecord[]>;
}

/** 16 concurrent reads when listing a tenant's displays. */
const LIST_CONCURRENCY = 16;

export function createDisplayStore(kv: KV): DisplayStore {
  return {
    get: (tenant, displayId) => readJson<DisplayRecord>(kv, displayRegistryKey(tenant, displayId)),
    write(record, revision) {
      const key = displayRegistryKey(record.tenant, record.displayId);
      return revision === undefined ? createJson(kv, key, record) : updateJson(kv, key, record, revision);
    },
    async mutate(tenant, displayId, change, current) {
      const key = displayRegistryKey(tenant, displayId);
      return (await mutateJson<DisplayRecord>(kv, key, change, `display ${key}`, current))?.value;
    },
    async list(tenant) {
      const keys = await listKeys(kv, `${tenant}.*`);
      const out: DisplayRecord[] = [];
      for (let i = 0; i < keys.length; i += LIST_CONCURRENCY) {
        const batch = await Promise.all(keys.slice(i, i + LIST_CONCURRENCY).map((k) => readJson<DisplayRecord>(kv, k)));
        for (const r of batch) if (r !== undefined) out.push(r.value);
      }
      return out.sort((a, b) => a.displayId.localeCompare(b.displayId));
    },
  };
}
