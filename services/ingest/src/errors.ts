/**
 * Error catalogue of the ingest service. `docs/api.md` lists every code (checked by
 * scripts/check-error-docs.mjs).
 */
import { defineErrors } from '@orderwire/platform';

export const INGEST_ERRORS = defineErrors({
  ORDERWIRE_ERR_INGEST_INVALID_ID: { status: 400, message: 'invalid {field}: {reason}' },
  ORDERWIRE_ERR_INGEST_INVALID_ORDER: { status: 400, message: 'order failed validation: {summary}' },
  ORDERWIRE_ERR_INGEST_INVALID_BATCH: { status: 400, message: 'batch failed validation: {summary}' },
  ORDERWIRE_ERR_INGEST_INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'invalid Idempotency-Key: {reason}' },
  ORDERWIRE_ERR_INGEST_DUPLICATE_IN_BATCH: {
    status: 400,
    message: 'orderId {orderId} appears more than once in the batch (first at index {first})',
  },
  ORDERWIRE_ERR_INGEST_IDEMPOTENCY_CONFLICT: {
    status: 409,
    message: 'idempotency key {key} was already used for a different order body',
  },
  ORDERWIRE_ERR_INGEST_ORDER_TOO_LARGE: {
    status: 413,
    message: 'order is {size} bytes once enveloped; the ORDERS stream accepts at most {limit}',
  },
  ORDERWIRE_ERR_INGEST_BATCH_TOO_LARGE: { status: 413, message: 'batch has {count} orders; at most {max} are allowed' },
  ORDERWIRE_ERR_INGEST_RATE_LIMITED: { status: 429, message: 'rate limit of {max} requests per {window} exceeded for this tenant' },
  ORDERWIRE_ERR_INGEST_ORDER_QUOTA_EXCEEDED: {
    status: 429,
    message: 'tenant {tenant} reached its quota of {quota} order publishes per minute (one per target display); retry after {after}',
  },
  ORDERWIRE_ERR_INGEST_ORDER_NOT_FOUND: { status: 404, message: 'order {orderId} was never accepted (or is older than order status is kept)' },
  ORDERWIRE_ERR_INGEST_UNAVAILABLE: { status: 503, message: 'order intake unavailable ({reason}); retry with the same idempotency key' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_INVALID: { status: 400, message: 'webhook endpoint failed validation: {summary}' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_URL_REFUSED: { status: 400, message: 'webhook url refused: {reason}' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_NOT_FOUND: { status: 404, message: 'no webhook endpoint {endpointId}' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'no delivery {deliveryId} for webhook endpoint {endpointId}' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_QUOTA_EXCEEDED: { status: 409, message: 'tenant already has {max} webhook endpoints (the per-tenant limit)' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_CONFLICT: { status: 409, message: 'webhook endpoint {endpointId} changed concurrently; retry the request' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_DELIVERY_PENDING: { status: 409, message: 'delivery {deliveryId} is being attempted right now; retry shortly' },
  ORDERWIRE_ERR_INGEST_WEBHOOK_STORE_UNAVAILABLE: { status: 503, message: 'webhook store unavailable ({reason}); retry later' },
});

export type IngestErrorCode = (typeof INGEST_ERRORS.codes)[number];

/** Why a publish could not be confirmed; the `reason` detail of ORDERWIRE_ERR_INGEST_UNAVAILABLE. */
export type UnavailableReason =
  | 'breaker_open'
  | 'disconnected'
  | 'timeout'
  | 'publish_error'
  | 'verify_failed'
  | 'read_failed'
  /** Published, but the order's acceptance record (RECEIPTS) was not written: retry with the same key. */
  | 'record_failed';
