/**
 * Turns at-least-once batches from the edge into exactly-once, ordered calls of the app's order
 * handler, and answers each batch's ack exactly once.
 *
 * Ordering guarantee (what the app can rely on):
 * - Handler calls never overlap: batches are processed one after another, in arrival order, and
 *   within a batch each delivery's handler is awaited before the next starts.
 * - Within a batch, deliveries are handed over in ascending `seq` (the ORDERS stream sequence).
 * - Across batches, `seq` ascends as long as the edge delivers in stream order, which it does
 *   except for redeliveries (after a reject, an ack timeout, or a reconnect). A redelivered
 *   delivery older than the highest `seq` already shown is still shown — never dropped — and
 *   flagged `late: true`, so the app can slot it into place.
 *
 * Exactly-once on screen: a delivery is "shown" when the handler returned (or resolved) without
 * throwing. Its `deliveryId` and `orderId` are remembered (bounded LRU, `dedupeWindow` of each);
 * a later copy with either id is acked again — the previous ack may have been lost — but not
 * handed to the app. A handler that throws rejects that delivery (reason = the error message),
 * nothing is remembered, and the edge's redelivery gets a fresh attempt.
 */
import type { Delivery, DeliveryAck, DeliveryReject } from '@orderwire/contracts';
import { DisplaySdkError, describeError } from './errors.js';
import { LruSet } from './lru.js';

/** Ids remembered for dedupe (each of deliveryId and orderId). */
export const DEFAULT_DEDUPE_WINDOW = 10_000;
/** Reject reasons travel to the DLQ; keep them bounded. */
export const MAX_REJECT_REASON_LENGTH = 500;
/** Reject reason when no `order` listener is registered. */
export const NO_HANDLER_REASON = 'no_order_handler';
/** Reject reason prefix for deliveries that do not match the contract. */
export const MALFORMED_REASON = 'malformed_delivery';

export interface OrderInfo {
  /** True when a delivery with a higher `seq` was already shown (a late redelivery). */
  late: boolean;
}

export type OrderHandler<TOrder = unknown> = (delivery: Delivery<TOrder>, info: OrderInfo) => void | Promise<void>;

export interface DeliveryStats {
  /** Deliveries received on the wire, duplicates included. */
  received: number;
  /** Deliveries handed to the app whose handler succeeded. */
  shown: number;
  /** Deliveries not handed over because their deliveryId or orderId was already shown. */
  duplicatesOnWire: number;
  /** Delivery ids acked (re-acks of duplicates included). */
  acked: number;
  /** Delivery ids rejected (handler threw, no handler, or malformed). */
  rejected: number;
  /** Highest `seq` shown so far. */
  highestSeq: number | undefined;
}

export interface DeliveryProcessorOptions<TOrder> {
  dedupeWindow: number;
  /** The app's handlers, read per delivery so listeners added later take part. */
  handlers: () => OrderHandler<TOrder>[];
  onError: (err: DisplaySdkError) => void;
}

export interface DeliveryProcessor {
  /** Processes one `orders` event; resolves after the ack was answered. Never rejects. */
  handleBatch(batch: unknown, ack: unknown): Promise<void>;
  stats(): DeliveryStats;
}

export function createDeliveryProcessor<TOrder>(options: DeliveryProcessorOptions<TOrder>): DeliveryProcessor {
  const seenDeliveries = new LruSet(options.dedupeWindow);
  const seenOrders = new LruSet(options.dedupeWindow);
  const counters: DeliveryStats = {
    received: 0,
    shown: 0,
    duplicatesOnWire: 0,
    acked: 0,
    rejected: 0,
    highestSeq: undefined,
  };
  let tail: Promise<void> = Promise.resolve();

  async function show(delivery: Delivery<TOrder>): Promise<string | undefined> {
    const handlers = options.handlers();
    if (handlers.length === 0) return NO_HANDLER_REASON;
    const info: OrderInfo = { late: counters.highestSeq !== undefined && delivery.seq < counters.highestSeq };
    try {
      for (const handler of handlers) await handler(delivery, info);
    } catch (err) {
      return truncate(describeError(err) || 'order handler failed');
    }
    return undefined;
  }

  async function processBatch(batch: unknown, ack: unknown): Promise<void> {
    const acked: string[] = [];
    const rejected: DeliveryReject[] = [];
    try {
      if (!Array.isArray(batch)) {
        options.onError(malformed('batch is not an array'));
        return;
      }
      counters.received += batch.length;
      // One entry per deliveryId: a batch carrying the same id twice gets one answer for it.
      const unique = new Map<string, Delivery<TOrder>>();
      for (const item of batch as unknown[]) {
        const problem = checkDelivery(item);
        if (problem === 'no id') {
          options.onError(malformed('a delivery without a deliveryId cannot be acked'));
          continue;
        }
        const delivery = item as Delivery<TOrder>;
        if (problem !== undefined) {
          options.onError(malformed(`${delivery.deliveryId}: ${problem}`));
          rejected.push({ deliveryId: delivery.deliveryId, reason: `${MALFORMED_REASON}: ${problem}` });
          continue;
        }
        if (unique.has(delivery.deliveryId)) {
          counters.duplicatesOnWire++;
          continue;
        }
        unique.set(delivery.deliveryId, delivery);
      }
      const ordered = [...unique.values()].sort((a, b) => a.seq - b.seq);
      for (const delivery of ordered) {
        if (seenDeliveries.has(delivery.deliveryId) || seenOrders.has(delivery.orderId)) {
          counters.duplicatesOnWire++;
          // Refresh both ids (and remember this copy's deliveryId): the edge keeps redelivering
          // until an ack lands, so these ids must not age out of the window meanwhile.
          seenDeliveries.add(delivery.deliveryId);
          seenOrders.add(delivery.orderId);
          acked.push(delivery.deliveryId);
          continue;
        }
        const failure = await show(delivery);
        if (failure !== undefined) {
          rejected.push({ deliveryId: delivery.deliveryId, reason: failure });
          continue;
        }
        seenDeliveries.add(delivery.deliveryId);
        seenOrders.add(delivery.orderId);
        counters.shown++;
        counters.highestSeq = Math.max(counters.highestSeq ?? delivery.seq, delivery.seq);
        acked.push(delivery.deliveryId);
      }
    } catch (err) {
      // Deliveries without an answer time out at the edge and come back; nothing is lost.
      options.onError(new DisplaySdkError('ORDERWIRE_ERR_SDK_INTERNAL', { operation: 'batch processing', reason: describeError(err) }, { cause: err }));
    } finally {
      counters.acked += acked.length;
      counters.rejected += rejected.length;
      answer(ack, rejected.length === 0 ? { ack: acked } : { ack: acked, reject: rejected });
    }
  }

  function answer(ack: unknown, reply: DeliveryAck): void {
    // Called from one place per batch, once: the edge's callback is never answered twice.
    if (typeof ack !== 'function') return;
    try {
      (ack as (reply: DeliveryAck) => void)(reply);
    } catch (err) {
      options.onError(new DisplaySdkError('ORDERWIRE_ERR_SDK_INTERNAL', { operation: 'ack', reason: describeError(err) }, { cause: err }));
    }
  }

  return {
    handleBatch(batch, ack) {
      const run = tail.then(() => processBatch(batch, ack));
      tail = run;
      return run;
    },
    stats: () => ({ ...counters }),
  };
}

function checkDelivery(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null) return 'no id';
  const d = item as Record<string, unknown>;
  if (typeof d.deliveryId !== 'string' || d.deliveryId === '') return 'no id';
  if (typeof d.orderId !== 'string' || d.orderId === '') return 'orderId missing';
  if (typeof d.seq !== 'number' || !Number.isFinite(d.seq)) return 'seq missing';
  return undefined;
}

function malformed(reason: string): DisplaySdkError {
  return new DisplaySdkError('ORDERWIRE_ERR_SDK_MALFORMED_DELIVERY', { reason });
}

function truncate(reason: string): string {
  return reason.length <= MAX_REJECT_REASON_LENGTH ? reason : `${reason.slice(0, MAX_REJECT_REASON_LENGTH - 1)}…`;
}
