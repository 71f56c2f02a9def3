/**
 * In-memory index of the display registry: which displays show a tenant's store station.
 * Fed by a KV mirror of `ow_displays` (app.ts), so computing an order's targets is a map
 * lookup, not a scan of the bucket per request.
 */
import { isValidId, type DisplayRecord } from '@orderwire/contracts';

export interface DisplayIndex {
  /** Applies one registry entry: a record (put) or `undefined` (deleted/purged). */
  apply(kvKey: string, record: DisplayRecord | undefined): void;
  /** Active (not decommissioned) displays of a station, sorted. */
  stationTargets(tenant: string, store: string, station: string): string[];
  get(tenant: string, displayId: string): DisplayRecord | undefined;
  /** Number of active displays. */
  size(): number;
}

/** Checks the fields the index relies on; the registry is written by another service. */
export function parseDisplayRecord(value: unknown): DisplayRecord | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Partial<DisplayRecord>;
  if (!isValidId(r.tenant) || !isValidId(r.displayId) || !isValidId(r.storeId)) return undefined;
  if (!Array.isArray(r.stations) || !r.stations.every((s) => isValidId(s))) return undefined;
  if (r.status !== 'registered' && r.status !== 'enrolled' && r.status !== 'decommissioned') return undefined;
  return r as DisplayRecord;
}

const SEP = '\u0000';
const stationKey = (tenant: string, store: string, station: string): string => `${tenant}${SEP}${store}${SEP}${station}`;
const displayKey = (tenant: string, displayId: string): string => `${tenant}${SEP}${displayId}`;

export function createDisplayIndex(): DisplayIndex {
  /** KV key → active record it contributed (to undo it on change). */
  const byKvKey = new Map<string, DisplayRecord>();
  const byDisplay = new Map<string, DisplayRecord>();
  const byStation = new Map<string, Set<string>>();

  function remove(kvKey: string): void {
    const old = byKvKey.get(kvKey);
    if (old === undefined) return;
    byKvKey.delete(kvKey);
    byDisplay.delete(displayKey(old.tenant, old.displayId));
    for (const station of old.stations) {
      const k = stationKey(old.tenant, old.storeId, station);
      const set = byStation.get(k);
      set?.delete(old.displayId);
      if (set?.size === 0) byStation.delete(k);
    }
  }

  return {
    apply(kvKey, record) {
      remove(kvKey);
      if (record === undefined || record.status === 'decommissioned') return;
      byKvKey.set(kvKey, record);
      byDisplay.set(displayKey(record.tenant, record.displayId), record);
      for (const station of record.stations) {
        const k = stationKey(record.tenant, record.storeId, station);
        let set = byStation.get(k);
        if (set === undefined) byStation.set(k, (set = new Set()));
        set.add(record.displayId);
      }
    },
    stationTargets(tenant, store, station) {
      const set = byStation.get(stationKey(tenant, store, station));
      return set === undefined ? [] : [...set].sort();
    },
    get(tenant, displayId) {
      return byDisplay.get(displayKey(tenant, displayId));
    },
    size: () => byKvKey.size,
  };
}
