/**
 * What a simulated display does with an `orders` batch: check each delivery, remember what it
 * has shown (bounded), ack everything it can read, and measure accept → ack latency. No k6
 * imports: the k6 scripts (through k6/lib), the bench's protocol display and vitest share it;
 * mirrors the display SDK's dedupe-by-delivery-and-order-id rule.
 */

/** The wire shape of one delivery (`Delivery` in @orderwire/contracts, restated: k6 cannot import npm packages). */
export interface WireDelivery {
  deliveryId: string;
  orderId: string;
  seq: number;
  deliveryCount: number;
  acceptedAt: number;
  replay?: boolean;
  order: unknown;
}

export interface WireReject {
  deliveryId: string;
  reason: string;
}

/** The display's answer to an `orders` batch (`DeliveryAck` in the contract). */
export interface WireAck {
  ack: string[];
  reject?: WireReject[];
}

export interface BatchOutcome {
  answer: WireAck;
  /** Deliveries shown for the first time, in ascending `seq`. */
  fresh: WireDelivery[];
  /** Deliveries whose delivery id or order id was already shown (redeliveries after a lost ack, replays). */
  duplicates: number;
  /** Entries that are not deliveries; rejected when they carry a delivery id, otherwise dropped. */
  malformed: number;
  /** accept → now, per fresh delivery, in ms. */
  latenciesMs: number[];
}

/** 10000 ids of each kind remembered per display, as the SDK's `dedupeWindow`. */
export const DEFAULT_DEDUPE_CAPACITY = 10_000;

/** An insertion-ordered bounded set: the oldest id is forgotten first. */
export interface BoundedSet {
  has(id: string): boolean;
  add(id: string): void;
  readonly size: number;
}

export function boundedSet(capacity: number = DEFAULT_DEDUPE_CAPACITY): BoundedSet {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    add(id) {
      if (ids.has(id)) return;
      ids.add(id);
      if (ids.size > capacity) {
        const oldest = ids.values().next();
        if (oldest.done !== true) ids.delete(oldest.value);
      }
    },
    get size() {
      return ids.size;
    },
  };
}

export interface DisplayMemory {
  deliveries: BoundedSet;
  orders: BoundedSet;
}

export function displayMemory(capacity: number = DEFAULT_DEDUPE_CAPACITY): DisplayMemory {
  return { deliveries: boundedSet(capacity), orders: boundedSet(capacity) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the reason `value` is not a delivery, or undefined when it is one. */
export function deliveryProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'not an object';
  if (typeof value.deliveryId !== 'string' || value.deliveryId === '') return 'deliveryId missing';
  if (typeof value.orderId !== 'string' || value.orderId === '') return 'orderId missing';
  if (typeof value.seq !== 'number' || !Number.isFinite(value.seq)) return 'seq missing';
  if (typeof value.acceptedAt !== 'number' || !Number.isFinite(value.acceptedAt)) return 'acceptedAt missing';
  if (typeof value.deliveryCount !== 'number') return 'deliveryCount missing';
  return undefined;
}

/**
 * Handles the arguments of one `orders` event (`[batch]`): returns the ack answer and what was
 * new. `nowMs` is the display's clock in epoch ms (same machine or NTP-synced with ingest).
 */
export function handleOrders(args: unknown[], memory: DisplayMemory, nowMs: number): BatchOutcome {
  const batch = args[0];
  const out: BatchOutcome = { answer: { ack: [] }, fresh: [], duplicates: 0, malformed: 0, latenciesMs: [] };
  if (!Array.isArray(batch)) {
    out.malformed = 1;
    return out;
  }
  const valid: WireDelivery[] = [];
  const reject: WireReject[] = [];
  for (const entry of batch as unknown[]) {
    const problem = deliveryProblem(entry);
    if (problem === undefined) {
      valid.push(entry as WireDelivery);
      continue;
    }
    out.malformed++;
    if (isRecord(entry) && typeof entry.deliveryId === 'string' && entry.deliveryId !== '') {
      reject.push({ deliveryId: entry.deliveryId, reason: `malformed_delivery: ${problem}` });
    }
  }
  valid.sort((a, b) => a.seq - b.seq);
  for (const d of valid) {
    out.answer.ack.push(d.deliveryId);
    if (memory.deliveries.has(d.deliveryId) || memory.orders.has(d.orderId)) {
      out.duplicates++;
      memory.deliveries.add(d.deliveryId);
      continue;
    }
    memory.deliveries.add(d.deliveryId);
    memory.orders.add(d.orderId);
    out.fresh.push(d);
    out.latenciesMs.push(nowMs - d.acceptedAt);
  }
  if (reject.length > 0) out.answer.reject = reject;
  return out;
}
