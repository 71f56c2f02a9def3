/**
 * Refresh-token families in KV `ow_refresh_tokens`:
 *   `f.<familyId>`                        → the family (current token hash, generation, status)
 *   `i.<tenant>.<displayId>.<familyId>`   → index, so a display's families can be revoked
 * Every change of a family is a CAS on its revision.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { KV_BUCKETS } from '@orderwire/platform';
import { createJson, listSubjectKeys, mutateJson, putJson, readJson, updateJson, type Versioned } from '../kv.js';

export type FamilyRevokeReason = 'token_revoked' | 'reuse_detected' | 'display_decommissioned' | 'superseded';

export interface RefreshFamilyRecord {
  v: 1;
  familyId: string;
  tenant: string;
  displayId: string;
  /** 1 for the token issued at enrollment, +1 per refresh. */
  generation: number;
  /** SHA-256 (base64url) of the one refresh token that is currently valid. */
  tokenHash: string;
  /** Hashes of recently spent tokens, newest first (bounded), for reuse detection. */
  spent: string[];
  status: 'active' | 'revoked';
  createdAt: string;
  /** Absolute end of the family (epoch ms); refreshing does not extend it. */
  expiresAt: number;
  /** When the current generation was issued. */
  rotatedAt: string;
  /**
   * How the current generation was issued: an ordinary refresh, or a retry-grace rotation
   * (after which the previous token gets no second grace). Absent at enrollment and in
   * records written before the grace existed (both count as ordinary).
   */
  rotation?: 'refresh' | 'retry_grace';
  revokedAt?: string;
  revokeReason?: FamilyRevokeReason;
}

export const familyKey = (familyId: string): string => `f.${familyId}`;
export const familyIndexKey = (tenant: string, displayId: string, familyId: string): string =>
  `i.${tenant}.${displayId}.${familyId}`;

export interface RefreshFamilyStore {
  get(familyId: string): Promise<Versioned<RefreshFamilyRecord> | undefined>;
  /** Stores the family and its index entry; the family's token may be handed out only once this resolved. */
  create(record: RefreshFamilyRecord): Promise<void>;
  /** CAS replace; undefined when another writer won. */
  replace(record: RefreshFamilyRecord, revision: number): Promise<number | undefined>;
  /** Marks the family revoked (idempotent). Returns the record as it was before, or undefined if absent. */
  revoke(familyId: string, reason: FamilyRevokeReason): Promise<{ before: RefreshFamilyRecord; changed: boolean } | undefined>;
  familyIdsOf(tenant: string, displayId: string): Promise<string[]>;
}

/** `jsm` lists a display's index keys (`listSubjectKeys`: index keys are never deleted, only expire). */
export function createRefreshFamilyStore(kv: KV, jsm: JetStreamManager, bucket: string = KV_BUCKETS.REFRESH_TOKENS): RefreshFamilyStore {
  return {
    get: (familyId) => readJson<RefreshFamilyRecord>(kv, familyKey(familyId)),
    async create(record) {
      // Both writes in one flush, not one after the other: the caller hands out the refresh token
      // only after both are stored, so a family stored without its index (that write failed) is
      // never usable — nobody holds its secret — and needs no index to be revoked.
      const [index, family] = await Promise.allSettled([
        putJson(kv, familyIndexKey(record.tenant, record.displayId, record.familyId), { v: 1, createdAt: record.createdAt }),
        createJson(kv, familyKey(record.familyId), record),
      ]);
      if (index.status === 'rejected') throw index.reason;
      if (family.status === 'rejected') throw family.reason;
    },
    replace: (record, revision) => updateJson(kv, familyKey(record.familyId), record, revision),
    async revoke(familyId, reason) {
      let before: RefreshFamilyRecord | undefined;
      let changed = false;
      await mutateJson<RefreshFamilyRecord>(
        kv,
        familyKey(familyId),
        (cur) => {
          before = cur;
          changed = cur.status !== 'revoked';
          return changed ? { ...cur, status: 'revoked', revokedAt: new Date().toISOString(), revokeReason: reason } : undefined;
        },
        `refresh family ${familyId}`,
      );
      return before === undefined ? undefined : { before, changed };
    },
    async familyIdsOf(tenant, displayId) {
      const prefix = `i.${tenant}.${displayId}.`;
      return (await listSubjectKeys(jsm, bucket, `${prefix}*`)).map((k) => k.slice(prefix.length));
    },
  };
}
