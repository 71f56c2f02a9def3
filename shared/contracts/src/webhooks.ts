/**
 * Webhooks (Standard Webhooks v1): the events upstream systems subscribe to, the payload they
 * receive, and the records ingest (endpoint management) and the webhooks dispatcher share in
 * JetStream KV. docs/webhooks.md is the integrator's view of the same thing.
 *
 * Buckets and keys (every id token is dot-free: tenant ids match ID_PATTERN, endpoint ids
 * `ep_<hex>`, message ids `msg_<hex>`, so the keys are injective):
 * - `ow_webhooks`: `<tenant>.<endpointId>` → `WebhookEndpointRecord` (one writer at a time by
 *   compare-and-set: ingest for management, the dispatcher to disable a failing endpoint).
 * - `ow_webhook_deliveries`: `d.<tenant>.<endpointId>.<messageId>` → `WebhookDeliveryRecord`,
 *   the durable retry state; `p.<tenant>.<displayId>` → `WebhookPresenceRecord` (a display that
 *   was reported offline, so its return is reported once).
 */

export const WEBHOOK_EVENT_TYPES = [
  'order.displayed',
  'order.dead_lettered',
  'order.replayed',
  'order.expired',
  'display.offline',
  'display.online',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(WEBHOOK_EVENT_TYPES);
export function isWebhookEventType(value: unknown): value is WebhookEventType {
  return typeof value === 'string' && EVENT_TYPE_SET.has(value);
}

/**
 * Which receipt status becomes which event. Keyed by the status string, not `ReceiptStatus`, so
 * `expired` (added to the receipt model by the order-status work) maps before the status type
 * knows it. `pending` is not an event.
 */
export const RECEIPT_STATUS_EVENTS: Readonly<Record<string, WebhookEventType>> = Object.freeze({
  delivered: 'order.displayed',
  dead_lettered: 'order.dead_lettered',
  replayed: 'order.replayed',
  expired: 'order.expired',
});

/** `data` of the order.* events: one per (order, display) state change. */
export interface WebhookOrderEventData {
  tenant: string;
  orderId: string;
  displayId: string;
  /** The JetStream stream and sequence of the order message the event is about. */
  stream?: string;
  seq: number;
  /** When the state changed (ISO 8601). */
  at: string;
  /** The trace id the order was accepted with, where the writer of the receipt had it. */
  traceId?: string;
  /** order.displayed: the edge node that delivered it. */
  edge?: string;
  /** order.dead_lettered / order.expired: why. */
  reason?: string;
}

/** `data` of the display.* events. */
export interface WebhookDisplayEventData {
  tenant: string;
  displayId: string;
  storeId: string;
  /** When the display was last connected (ISO 8601). */
  lastSeen: string;
  /** display.offline: orders it has not acknowledged yet. */
  backlog?: number;
  /** display.online: how long it was gone, in seconds. */
  offlineSeconds?: number;
}

/** The JSON body of every delivery (Standard Webhooks: `type`, `timestamp`, `data`). */
export interface WebhookEvent<D = WebhookOrderEventData | WebhookDisplayEventData> {
  type: WebhookEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: D;
}

export interface WebhookSecret {
  /** `whsec_<base64>`: the bytes after the prefix are the HMAC key. */
  secret: string;
  createdAt: string;
  /** A rotated-out secret still signs until this instant (the grace period). */
  expiresAt?: string;
}

export interface WebhookEndpointRecord {
  v: 1;
  id: string;
  tenant: string;
  url: string;
  events: WebhookEventType[];
  description?: string;
  enabled: boolean;
  /** Newest first; every unexpired secret signs (the multi-signature header). */
  secrets: WebhookSecret[];
  createdAt: string;
  updatedAt: string;
  /** Why it was disabled (`gone`: the receiver answered 410; `failing`: sustained failure; `manual`). */
  disabledReason?: 'gone' | 'failing' | 'manual';
  disabledAt?: string;
  /** Start of the current run of failed attempts; cleared by a success. */
  failingSince?: string;
}

export interface WebhookAttempt {
  /** ISO 8601 start of the attempt. */
  at: string;
  /** HTTP status of the answer, absent when there was none. */
  status?: number;
  /** `success`, `http_error`, `redirect`, `gone`, `timeout`, `network_error`, `refused_address`. */
  outcome: WebhookAttemptOutcome;
  durationMs: number;
  /** Short reason (network error code, refused address); never the receiver's body. */
  error?: string;
}

export const WEBHOOK_ATTEMPT_OUTCOMES = ['success', 'http_error', 'redirect', 'gone', 'timeout', 'network_error', 'refused_address'] as const;
export type WebhookAttemptOutcome = (typeof WEBHOOK_ATTEMPT_OUTCOMES)[number];

export type WebhookDeliveryState = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveryRecord {
  v: 1;
  /** The `webhook-id`: the same for every attempt and every endpoint of one event. */
  id: string;
  tenant: string;
  endpointId: string;
  type: WebhookEventType;
  /** The exact body that is signed and sent, every attempt. */
  body: string;
  createdAt: string;
  state: WebhookDeliveryState;
  /** Epoch ms of the next attempt (state `pending`). */
  nextAttemptAt: number;
  /** Most recent last; bounded by the retry schedule (manual retries add to it). */
  attempts: WebhookAttempt[];
  /** Why a failed delivery stopped (`exhausted`, `endpoint_gone`, `endpoint_deleted`). */
  failedReason?: string;
  /** A dispatcher working on it, until `until` (epoch ms); a crashed one's claim just expires. */
  claim?: { by: string; until: number };
}

export interface WebhookPresenceRecord {
  v: 1;
  tenant: string;
  displayId: string;
  /** Epoch ms the display was last seen when it was reported offline. */
  lastSeen: number;
  reportedAt: string;
}

export const WEBHOOK_ENDPOINT_ID_PATTERN = '^ep_[0-9a-f]{24}$';
export const WEBHOOK_MESSAGE_ID_PATTERN = '^msg_[0-9a-f]{32}$';
const ENDPOINT_ID_RE = new RegExp(WEBHOOK_ENDPOINT_ID_PATTERN);
const MESSAGE_ID_RE = new RegExp(WEBHOOK_MESSAGE_ID_PATTERN);
export const isWebhookEndpointId = (v: unknown): v is string => typeof v === 'string' && ENDPOINT_ID_RE.test(v);
export const isWebhookMessageId = (v: unknown): v is string => typeof v === 'string' && MESSAGE_ID_RE.test(v);

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

export function webhookEndpointKey(tenant: string, endpointId: string): string {
  return `${tenant}.${endpointId}`;
}
/** Every endpoint of a tenant (a KV key filter). */
export function webhookEndpointsFilter(tenant: string): string {
  return `${tenant}.*`;
}
export function webhookDeliveryKey(tenant: string, endpointId: string, messageId: string): string {
  return `d.${tenant}.${endpointId}.${messageId}`;
}
/** Every delivery of one endpoint (a KV key filter). */
export function webhookDeliveriesFilter(tenant: string, endpointId: string): string {
  return `d.${tenant}.${endpointId}.*`;
}
export function webhookPresenceKey(tenant: string, displayId: string): string {
  return `p.${tenant}.${displayId}`;
}

/** The Standard Webhooks headers. */
export const WEBHOOK_HEADERS = Object.freeze({
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const);
