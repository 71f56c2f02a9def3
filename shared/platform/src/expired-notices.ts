/**
 * The `ow_expired_notices` bucket: per display, the orders that expired unseen and that the display
 * has not been told about yet (model and pure merge rules: `expired-notice.ts` in contracts).
 * Two writers, each a compare-and-set on the entry's revision, so neither loses the other's work:
 *
 *   DLQ expiry detector ── add(orders) ──►  <tenant>.<displayId>  ◄── acknowledge(told) ── edge
 *                                                │                     (after the display acked)
 *                                                └── get() on the handshake ──► `orders:expired`
 *
 * An entry that is not a notice (written by something else) reads as empty and is replaced.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import {
  addExpiredOrders,
  expiredNoticeKey,
  parseExpiredNotice,
  removeToldOrders,
  type ExpiredNoticeRecord,
  type ExpiredOrder,
} from '@orderwire/contracts';
import { PLATFORM_ERRORS } from './errors.js';
import { compareAndSet } from './jetstream.js';

export interface ExpiredNotices {
  /** The display's notice, or `undefined` when it has nothing to be told. */
  get(tenant: string, displayId: string): Promise<ExpiredNoticeRecord | undefined>;
  /** Adds orders (each at most once) to the display's notice. Returns the notice as stored. */
  add(tenant: string, displayId: string, orders: readonly ExpiredOrder[]): Promise<ExpiredNoticeRecord>;
  /**
   * Takes out what the display was told and acked; deletes the entry when nothing is left.
   * Returns what is left (orders added since it was told), if anything.
   */
  acknowledge(tenant: string, displayId: string, told: ExpiredNoticeRecord): Promise<ExpiredNoticeRecord | undefined>;
}

const decoder = new TextDecoder();

function notice(entry: KvEntry | null): ExpiredNoticeRecord | undefined {
  if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return undefined;
  try {
    return parseExpiredNotice(JSON.parse(decoder.decode(entry.value)));
  } catch {
    return undefined;
  }
}

/** Notices on an opened `ow_expired_notices` bucket. */
export function createExpiredNotices(kv: KV): ExpiredNotices {
  const exhausted = (key: string) => () => PLATFORM_ERRORS.create('ORDERWIRE_ERR_EXPIRED_NOTICE_CONFLICT', { key });
  return {
    async get(tenant, displayId) {
      return notice(await kv.get(expiredNoticeKey(tenant, displayId)));
    },
    async add(tenant, displayId, orders) {
      const key = expiredNoticeKey(tenant, displayId);
      return compareAndSet(
        async () => {
          const entry = await kv.get(key);
          const current = notice(entry);
          const next = addExpiredOrders(current, orders);
          if (current !== undefined && next.total === current.total) return current;
          const data = JSON.stringify(next);
          // create() also takes over a deleted key; update() needs the revision it read.
          if (entry === null || entry.operation !== 'PUT') await kv.create(key, data);
          else await kv.update(key, data, entry.revision);
          return next;
        },
        { exhausted: exhausted(key) },
      );
    },
    async acknowledge(tenant, displayId, told) {
      const key = expiredNoticeKey(tenant, displayId);
      return compareAndSet(
        async () => {
          const entry = await kv.get(key);
          if (entry === null || entry.operation !== 'PUT') return undefined;
          const left = removeToldOrders(notice(entry), told);
          if (left === undefined) await kv.delete(key, { previousSeq: entry.revision });
          else await kv.update(key, JSON.stringify(left), entry.revision);
          return left;
        },
        { exhausted: exhausted(key) },
      );
    },
  };
}
