/**
 * Events from their sources, with the `webhook-id` of each: a hash of what identifies the event,
 * so a source message read twice (at-least-once consumers, a restart) yields the same id — and
 * the same delivery record, which is created only once.
 */
import { createHash } from 'node:crypto';
import {
  RECEIPT_STATUS_EVENTS,
  isValidId,
  isValidOrderId,
  type WebhookDisplayEventData,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookOrderEventData,
} from '@orderwire/contracts';

/** A hash of the parts, as a Standard Webhooks message id (`msg_` + 32 hex digits). */
export function messageId(...parts: readonly (string | number)[]): string {
  const h = createHash('sha256');
  // Length-prefixed, so no two different part lists hash the same input.
  for (const p of parts) {
    const s = String(p);
    h.update(`${s.length}:${s};`);
  }
  return `msg_${h.digest('hex').slice(0, 32)}`;
}

export interface SourcedEvent {
  id: string;
  tenant: string;
  event: WebhookEvent;
}

/**
 * The event of one RECEIPTS message, or undefined when the receipt is not an event (`pending`)
 * or not a receipt. `stream` and `traceId` are carried when the writer set them.
 */
export function eventOfReceipt(value: unknown): SourcedEvent | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  const type = typeof r.status === 'string' ? RECEIPT_STATUS_EVENTS[r.status] : undefined;
  if (type === undefined) return undefined;
  if (!isValidId(r.tenant) || !isValidOrderId(r.orderId) || !isValidId(r.displayId) || typeof r.seq !== 'number' || typeof r.at !== 'number') return undefined;
  const at = new Date(r.at).toISOString();
  const data: WebhookOrderEventData = {
    tenant: r.tenant,
    orderId: r.orderId,
    displayId: r.displayId,
    ...(typeof r.stream === 'string' ? { stream: r.stream } : {}),
    seq: r.seq,
    at,
    ...(typeof r.traceId === 'string' ? { traceId: r.traceId } : {}),
    ...(typeof r.edge === 'string' && type === 'order.displayed' ? { edge: r.edge } : {}),
    ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
  };
  return {
    id: messageId(type, r.tenant, r.orderId, r.displayId, typeof r.stream === 'string' ? r.stream : '', r.seq),
    tenant: r.tenant,
    event: { type, timestamp: at, data },
  };
}

export function displayEvent(type: Extract<WebhookEventType, 'display.offline' | 'display.online'>, data: WebhookDisplayEventData, atMs: number, lastSeenMs: number): SourcedEvent {
  return {
    // One offline report per absence (identified by when the display was last seen), and one return.
    id: messageId(type, data.tenant, data.displayId, lastSeenMs),
    tenant: data.tenant,
    event: { type, timestamp: new Date(atMs).toISOString(), data },
  };
}
