/**
 * What a display has not yet been told about orders that expired unseen: one KV entry per
 * display in `ow_expired_notices` (key `expiredNoticeKey`). The DLQ service's expiry detector adds
 * to it (`addExpiredOrders`) when it records an `expired` receipt; the edge sends it as
 * `orders:expired` after the handshake and, once the display acked, takes out what it told
 * (`removeToldOrders`) — so a display is told once, not on every reconnect. Both sides update
 * the entry with a compare-and-set on its revision; these functions are the pure part.
 *
 *   detector: add ──► { orders, total } ──► edge: emit on connect ──► display acks ──► remove told
 */
import { assertId } from './ids.js';
import { EXPIRED_NOTICE_MAX, type ExpiredOrder, type OrdersExpired } from './socket-events.js';

/** KV key of a display's notice; ids cannot contain `.`, so the key is injective. */
export function expiredNoticeKey(tenant: string, displayId: string): string {
  return `${assertId('tenant', tenant)}.${assertId('display', displayId)}`;
}

/**
 * The stored entry: the same shape as the `orders:expired` payload. `orders` holds at most
 * EXPIRED_NOTICE_MAX, oldest first; `total` counts every expired order not yet told.
 */
export type ExpiredNoticeRecord = OrdersExpired;

function isExpiredOrder(v: unknown): v is ExpiredOrder {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Partial<ExpiredOrder>;
  return typeof o.orderId === 'string' && typeof o.expiredAt === 'number' && typeof o.acceptedAt === 'number';
}

/** The stored entry, or `undefined` when `value` is not one (treated as empty by writers). */
export function parseExpiredNotice(value: unknown): ExpiredNoticeRecord | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Partial<ExpiredNoticeRecord>;
  if (!Array.isArray(r.orders) || !r.orders.every(isExpiredOrder) || typeof r.total !== 'number' || r.total < r.orders.length) return undefined;
  return { orders: r.orders, total: r.total };
}

/**
 * `current` with `orders` added. An order already listed is not added (or counted) again, so a
 * detector that repeats its work after a crash does not inflate the count. Past
 * EXPIRED_NOTICE_MAX listed orders, new ones are only counted.
 */
export function addExpiredOrders(current: ExpiredNoticeRecord | undefined, orders: readonly ExpiredOrder[]): ExpiredNoticeRecord {
  const listed = [...(current?.orders ?? [])];
  let total = current?.total ?? 0;
  const ids = new Set(listed.map((o) => o.orderId));
  for (const o of orders) {
    if (ids.has(o.orderId)) continue;
    ids.add(o.orderId);
    total++;
    if (listed.length < EXPIRED_NOTICE_MAX) listed.push(o);
  }
  return { orders: listed, total };
}

/**
 * What is left after the display acked `told` (the notice as it was sent): the orders added
 * since. `undefined` when nothing is left (the entry is deleted).
 */
export function removeToldOrders(current: ExpiredNoticeRecord | undefined, told: ExpiredNoticeRecord): ExpiredNoticeRecord | undefined {
  if (current === undefined) return undefined;
  const toldIds = new Set(told.orders.map((o) => o.orderId));
  const orders = current.orders.filter((o) => !toldIds.has(o.orderId));
  // Told orders beyond the list were only counted: they leave the count, not the list.
  const total = Math.max(orders.length, current.total - told.total);
  return total === 0 ? undefined : { orders, total };
}
