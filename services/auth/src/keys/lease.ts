/**
 * A leader lease in KV bucket `ow_leases`: KV create acquires a free lease, CAS updates renew
 * or take over an expired one, CAS delete releases. The expiry is inside the record (the
 * bucket's TTL only garbage-collects), so the rule does not depend on the bucket settings.
 * A lease is an optimisation — it keeps all replicas but one from doing the work — never the
 * safety net: whatever the leader writes must itself be CAS-protected, because clocks and
 * pauses can make two replicas believe they lead for a moment.
 */
import type { KV } from '@nats-io/kv';
import { createJson, deleteKey, readJson, updateJson } from '../kv.js';

export interface LeaseRecord {
  v: 1;
  holder: string;
  acquiredAt: string;
  /** Epoch ms after which anyone may take the lease over. */
  expiresAt: number;
}

export interface Lease {
  /** Acquires, renews, or takes over an expired lease. True when this holder leads until `heldUntil()`. */
  tryAcquire(now?: number): Promise<boolean>;
  /** Epoch ms until which this holder may act as leader (0 when not leading). */
  heldUntil(): number;
  /** Gives the lease up if still ours. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  kv: KV;
  /** Lease key, e.g. `auth.key-rotation`. */
  name: string;
  holder: string;
  ttlMs: number;
}

export function createLease(options: LeaseOptions): Lease {
  const { kv, name, holder, ttlMs } = options;
  let until = 0;
  let revision: number | undefined;

  function record(now: number, acquiredAt: string): LeaseRecord {
    return { v: 1, holder, acquiredAt, expiresAt: now + ttlMs };
  }

  return {
    async tryAcquire(now = Date.now()) {
      const cur = await readJson<LeaseRecord>(kv, name);
      let rev: number | undefined;
      if (cur === undefined) {
        rev = await createJson(kv, name, record(now, new Date(now).toISOString()));
      } else if (cur.value.holder === holder) {
        rev = await updateJson(kv, name, record(now, cur.value.acquiredAt), cur.revision);
      } else if (cur.value.expiresAt <= now) {
        rev = await updateJson(kv, name, record(now, new Date(now).toISOString()), cur.revision);
      }
      if (rev === undefined) {
        until = 0;
        revision = undefined;
        return false;
      }
      revision = rev;
      until = now + ttlMs;
      return true;
    },
    heldUntil() {
      return until;
    },
    async release() {
      if (revision === undefined) return;
      const rev = revision;
      until = 0;
      revision = undefined;
      await deleteKey(kv, name, rev);
    },
  };
}
