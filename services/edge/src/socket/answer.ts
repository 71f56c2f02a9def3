/**
 * A display's answer to an `orders` batch, `{ ack: string[], reject?: [{ deliveryId, reason }] }`,
 * read defensively (it comes off the wire) and without building a Set and a Map per batch: the
 * acked ids are looked up in the answer itself, and a rejection's reason is read only for a
 * delivery the answer did not ack.
 */
import type { DeliveryAck } from '@orderwire/contracts';

/** Up to this many ids an answer's `ack` array is searched as it is; a longer one is made a Set. */
const ACK_SCAN_MAX = 64;

/**
 * The ids an answer `{ ack: string[], ... }` acks, read defensively (it comes off the wire): the
 * array itself when it is short (no Set per batch), a Set of its strings otherwise.
 */
export function ackedIds(raw: unknown): { has(id: string): boolean } {
  if (typeof raw !== 'object' || raw === null) return NONE_ACKED;
  const { ack } = raw as Partial<Record<keyof DeliveryAck, unknown>>;
  if (!Array.isArray(ack)) return NONE_ACKED;
  // `includes` compares strictly: a non-string entry never equals a delivery id.
  if (ack.length <= ACK_SCAN_MAX) return { has: (id) => ack.includes(id) };
  const set = new Set<string>();
  for (const id of ack) if (typeof id === 'string') set.add(id);
  return set;
}

const NONE_ACKED = { has: (): boolean => false };

/**
 * Why the display did not ack `deliveryId`: its `reject` entry's reason (at most 100 characters),
 * `rejected` for an entry without one, `not_acknowledged` when the answer names it nowhere. The last entry for
 * the id counts. Read only for deliveries the answer did not ack.
 */
export function rejectReason(raw: unknown, deliveryId: string): string {
  if (typeof raw !== 'object' || raw === null) return 'not_acknowledged';
  const { reject } = raw as Partial<Record<keyof DeliveryAck, unknown>>;
  if (!Array.isArray(reject)) return 'not_acknowledged';
  let why = 'not_acknowledged';
  for (const r of reject) {
    if (typeof r !== 'object' || r === null) continue;
    const { deliveryId: id, reason } = r as { deliveryId?: unknown; reason?: unknown };
    if (id === deliveryId) why = typeof reason === 'string' && reason.length > 0 ? reason.slice(0, 100) : 'rejected';
  }
  return why;
}
