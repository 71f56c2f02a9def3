/**
 * One-time enrollment codes in KV `ow_enrollments`. Two records per code:
 *   `c.<sha256(code)>`          → which display the code belongs to (lookup by code)
 *   `d.<tenant>.<displayId>`    → the display's one live code: its hash, expiry and status
 * The display record is the source of truth: reissuing overwrites it (the old code stops
 * working at once) and redeeming flips it to `used` with a CAS on its revision, so of two
 * concurrent redemptions exactly one wins. Only hashes are stored.
 */
import type { KV } from '@nats-io/kv';
import { deleteKey, putJson, readJson, updateJson, type Versioned } from '../kv.js';

export interface EnrollmentCodeRecord {
  v: 1;
  tenant: string;
  displayId: string;
}

export interface DisplayEnrollmentRecord {
  v: 1;
  tenant: string;
  displayId: string;
  codeHash: string;
  status: 'pending' | 'used';
  createdAt: string;
  /** Epoch ms. */
  expiresAt: number;
  usedAt?: string;
  /**
   * Issued at the display's first registration (no registry record before it): no refresh-token
   * family can exist for the display yet — families are made only by enrolling a registered
   * display, and registry records are never deleted — so redeeming it has no earlier sessions to
   * supersede and skips listing them. Absent on every reissued code (and in older records).
   */
  firstCode?: true;
}

export const codeKey = (codeHash: string): string => `c.${codeHash}`;
export const displayEnrollmentKey = (tenant: string, displayId: string): string => `d.${tenant}.${displayId}`;

export interface EnrollmentStore {
  /**
   * Stores a fresh code for the display, replacing (and invalidating) any earlier one.
   * `firstCode`: the display has no registry record before this registration, so it has no
   * earlier code whose lookup record needs removing (skips reading it).
   */
  issue(tenant: string, displayId: string, codeHash: string, expiresAt: number, options?: { firstCode?: boolean }): Promise<void>;
  lookup(codeHash: string): Promise<EnrollmentCodeRecord | undefined>;
  forDisplay(tenant: string, displayId: string): Promise<Versioned<DisplayEnrollmentRecord> | undefined>;
  /** CAS: marks the display's code used. False when another redemption (or a reissue) won. */
  markUsed(current: Versioned<DisplayEnrollmentRecord>): Promise<boolean>;
}

export function createEnrollmentStore(kv: KV): EnrollmentStore {
  return {
    async issue(tenant, displayId, codeHash, expiresAt, options = {}) {
      const dkey = displayEnrollmentKey(tenant, displayId);
      const previous = options.firstCode === true ? undefined : await readJson<DisplayEnrollmentRecord>(kv, dkey);
      const record: DisplayEnrollmentRecord = {
        v: 1,
        tenant,
        displayId,
        codeHash,
        status: 'pending',
        createdAt: new Date().toISOString(),
        expiresAt,
      };
      if (options.firstCode === true) record.firstCode = true;
      // Both are written before the code is handed out, and redeeming needs both: their order is free,
      // so they go out together.
      await Promise.all([putJson(kv, codeKey(codeHash), { v: 1, tenant, displayId } satisfies EnrollmentCodeRecord), putJson(kv, dkey, record)]);
      // The old code already fails the hash check; removing its lookup is housekeeping.
      if (previous !== undefined && previous.value.codeHash !== codeHash) await deleteKey(kv, codeKey(previous.value.codeHash));
    },
    async lookup(codeHash) {
      return (await readJson<EnrollmentCodeRecord>(kv, codeKey(codeHash)))?.value;
    },
    forDisplay(tenant, displayId) {
      return readJson<DisplayEnrollmentRecord>(kv, displayEnrollmentKey(tenant, displayId));
    },
    async markUsed(current) {
      const used: DisplayEnrollmentRecord = { ...current.value, status: 'used', usedAt: new Date().toISOString() };
      const rev = await updateJson(kv, displayEnrollmentKey(current.value.tenant, current.value.displayId), used, current.revision);
      return rev !== undefined;
    },
  };
}
